import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = fileURLToPath(new URL('./src/', import.meta.url));

export default defineConfig({
  // Tests and examples import 'tracebus' as users do; under test that means the sources.
  resolve: {
    alias: [
      { find: /^tracebus$/, replacement: `${src}index.ts` },
      { find: /^tracebus\/(memory|kafkajs|amqplib|testing|adapter|w3c)$/, replacement: `${src}$1/index.ts` },
    ],
  },
  test: {
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/contract/memory.test.ts', 'test/conformance/memory.test.ts'] } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: ['test/support/brokers.ts'], fileParallelism: false, testTimeout: 60_000, hookTimeout: 120_000 },
      },
    ],
  },
});

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
    // Laid out by kind: unit, contract and conformance per transport, faults, and the other
    // broker suites. Each broker suite skips itself when its broker could not be had (which
    // fails the run in CI); the `brokers` project only adds the global setups that find them
    // (and the Zipkin that test/integration/zipkin.test.ts reads traces back from).
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/contract/memory.test.ts', 'test/conformance/memory.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'brokers',
          include: ['test/{contract,conformance,faults,integration}/**/*.test.ts'],
          exclude: ['test/contract/memory.test.ts', 'test/conformance/memory.test.ts'],
          globalSetup: ['test/support/brokers.ts', 'test/support/zipkin.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});

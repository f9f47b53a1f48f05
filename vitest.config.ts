import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = fileURLToPath(new URL('./src/', import.meta.url));

// TRACEBUS_OTEL_LINE=2 runs the suites against the OpenTelemetry JS 2.x line (api 1.9, SDK
// 2.x) installed in .ci/otel-2x (`npm run test:otel-2x`); by default, the 3.x line of
// package.json. Every import of these packages, the library's included, goes there.
const otel2x = process.env.TRACEBUS_OTEL_LINE === '2' ? fileURLToPath(new URL('./.ci/otel-2x/node_modules/@opentelemetry/', import.meta.url)) : undefined;
const otelLine =
  otel2x === undefined
    ? []
    : [
        { find: /^@opentelemetry\/(api|core|context-async-hooks|exporter-trace-otlp-http|resources|sdk-metrics|sdk-node|sdk-trace)$/, replacement: `${otel2x}$1` },
        // recordSpans loads its peers with require(), which the aliases do not reach.
        { find: /^\.\/peers\.ts$/, replacement: fileURLToPath(new URL('./test/support/recorder-peers.ts', import.meta.url)) },
      ];

export default defineConfig({
  // Tests and examples import 'tracebus' as users do; under test that means the sources.
  resolve: {
    alias: [
      ...otelLine,
      { find: /^tracebus$/, replacement: `${src}index.ts` },
      { find: /^tracebus\/(memory|kafkajs|confluent-kafka|amqplib|amqp-connection-manager|testing|adapter|w3c)$/, replacement: `${src}$1/index.ts` },
    ],
  },
  test: {
    // Process warnings of tracebus's diagnostics are tested in test/unit/warnings.test.ts;
    // elsewhere they would only repeat what the tests provoke on purpose.
    env: { TRACEBUS_WARNINGS: 'off' },
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
      {
        extends: true,
        test: {
          name: 'clusters',
          include: ['test/clusters/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
          // A group of its own, never alongside the other projects: the clusters take the machine's two cores.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

import { diag } from '@opentelemetry/api';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';

// `npm run test:otel-2x` runs the suites against the 2.x SDK line; this checks that they
// really do, through the version the API registers its globals under.
const line = process.env.TRACEBUS_OTEL_LINE === '2' ? '2' : '3';

describe(`the OpenTelemetry JS line under test (${line}.x SDK)`, () => {
  it('is the one the run asked for', () => {
    // Registering anything makes the API record its version in its global slot.
    diag.setLogger({ error() {}, warn() {}, info() {}, debug() {}, verbose() {} });
    const slot = (globalThis as Record<symbol, { version?: string } | undefined>)[Symbol.for('opentelemetry.js.api.1')];
    expect(slot?.version).toBe(line === '2' ? '1.9.0' : '1.10.0');
    // The SDK's tracer scope is the SDK version's: 2.x or 3.x.
    const span = new TracerProvider().getTracer('probe').startSpan('probe') as unknown as { resource: { attributes: Record<string, unknown> }; end(): void };
    span.end();
    expect(String(span.resource.attributes['telemetry.sdk.version'])).toMatch(line === '2' ? /^2\./ : /^3\./);
    diag.disable();
  });
});

import { metrics } from '@opentelemetry/api';
import { MeterProvider, type HistogramMetricData, type MetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MessagingTracer } from '../../src/adapter/index.ts';
import { DURATION_BUCKETS, TIME_IN_QUEUE_BUCKETS } from '../../src/core/metrics.ts';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from '../../src/memory/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { captureDiagEachTest } from '../support/diag.ts';
import { CollectingReader } from '../support/metrics.ts';

let recorder: SpanRecorder;
let reader: CollectingReader;
let provider: MeterProvider;
beforeEach(() => {
  recorder = recordSpans();
  reader = new CollectingReader();
  provider = new MeterProvider({ readers: [reader] });
});
afterEach(async () => {
  metrics.disable();
  await provider.shutdown();
  await recorder.shutdown();
});
const diagnostics = captureDiagEachTest();

const sumOf = (metric: MetricData | undefined, where: Record<string, unknown> = {}) =>
  (metric as SumMetricData | undefined)?.dataPoints.filter((point) => Object.entries(where).every(([key, value]) => point.attributes[key] === value)).reduce((total, point) => total + (point.value as number), 0);
const countOf = (metric: MetricData | undefined, where: Record<string, unknown> = {}) =>
  (metric as HistogramMetricData | undefined)?.dataPoints.filter((point) => Object.entries(where).every(([key, value]) => point.attributes[key] === value)).reduce((total, point) => total + point.value.count, 0);

describe('messaging metrics', () => {
  it('are off, creating no instruments, while no MeterProvider is registered', () => {
    expect(new MessagingTracer('kafka').instruments()).toBeUndefined();
  });

  it('count sent and consumed messages, time sends, processing and time in queue, with semconv names and buckets', async () => {
    metrics.setGlobalMeterProvider(provider);
    const bus = new MemoryBus({ maxAttempts: 2 });
    const publisher = traceMemoryPublisher()(bus);
    let failures = 0;
    bus.subscribe(
      'orders',
      traceMemoryHandler()(() => {
        if (failures++ === 0) throw new TypeError('first attempt fails');
      }),
      { group: 'billing' },
    );
    for (let index = 0; index < 3; index++) await publisher.publish('orders', { payload: index });
    await bus.close();

    const collected = await reader.byName();
    const base = { 'messaging.system.name': 'tracebus.memory', 'messaging.destination.name': 'orders' };
    expect(sumOf(collected.get('messaging.client.sent.messages'), { ...base, 'messaging.operation.name': 'send' })).toBe(3);
    expect(sumOf(collected.get('messaging.client.consumed.messages'), { ...base, 'messaging.consumer.group.name': 'billing' })).toBe(4);
    expect(countOf(collected.get('messaging.client.operation.duration'), { ...base, 'messaging.operation.type': 'send' })).toBe(3);
    const processed = collected.get('messaging.process.duration') as HistogramMetricData;
    expect(processed.descriptor.unit).toBe('s');
    expect(countOf(processed, { 'error.type': 'TypeError' })).toBe(1);
    expect(countOf(processed)).toBe(4);
    expect(processed.dataPoints[0]!.value.buckets.boundaries).toEqual(DURATION_BUCKETS);
    const inQueue = collected.get('tracebus.messaging.time_in_queue') as HistogramMetricData;
    expect(countOf(inQueue, base)).toBe(4);
    // A lagging consumer's minutes and hours get buckets of their own, not the durations' 10 s overflow.
    expect(inQueue.dataPoints[0]!.value.buckets.boundaries).toEqual(TIME_IN_QUEUE_BUCKETS);
    expect(TIME_IN_QUEUE_BUCKETS.slice(-4)).toEqual([3600, 7200, 21600, 86400]);
    expect(sumOf(collected.get('tracebus.propagation.messages'), { 'tracebus.propagation.outcome': 'valid' })).toBe(4);
  });

  it('count and report messages that arrive without a usable trace context', async () => {
    metrics.setGlobalMeterProvider(provider);
    const bus = new MemoryBus();
    bus.subscribe('inbox', traceMemoryHandler()(() => undefined));
    await bus.publish('inbox', { payload: 1 });
    await bus.publish('inbox', { payload: 2 });
    await bus.publish('inbox', { payload: 3, headers: { traceparent: 'garbage' } });
    await bus.publish('inbox', { payload: 4, headers: { 'X-B3-TraceId': '80f198ee56343ba864fe8b2a57d3eff7' } });
    await bus.close();

    const propagation = (await reader.byName()).get('tracebus.propagation.messages');
    expect(sumOf(propagation, { 'tracebus.propagation.outcome': 'missing' })).toBe(2);
    expect(sumOf(propagation, { 'tracebus.propagation.outcome': 'malformed' })).toBe(1);
    expect(sumOf(propagation, { 'tracebus.propagation.outcome': 'foreign' })).toBe(1);
    expect(diagnostics.warnings).toEqual([
      "tracebus: 1 message(s) on tracebus.memory 'inbox' arrived with no trace headers; each started a new trace",
      "tracebus: 1 message(s) on tracebus.memory 'inbox' arrived with a malformed traceparent; each started a new trace",
      "tracebus: 1 message(s) on tracebus.memory 'inbox' arrived with trace headers of another format and no traceparent; each started a new trace",
    ]);
  });

  it('reports nothing when reportMissingContext is false', async () => {
    const bus = new MemoryBus();
    bus.subscribe('quiet', traceMemoryHandler({ reportMissingContext: false })(() => undefined));
    await bus.publish('quiet', { payload: 1 });
    await bus.close();
    expect(diagnostics.warnings).toEqual([]);
  });
});

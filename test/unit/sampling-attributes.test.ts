import { SpanKind, type Attributes, type Context, type Link } from '@opentelemetry/api';
import { AlwaysOffSampler, AlwaysOnSampler, type Sampler, type SamplingResult } from '@opentelemetry/sdk-trace';
import type { EachMessagePayload, KafkaMessage, Producer } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { traceEachMessage, traceProducer } from '../../src/kafkajs/index.ts';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from '../../src/memory/index.ts';
import { findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { FakeProducer } from '../support/fakes/kafkajs.ts';

/** A sampler that records what it was shown for each span, then defers to `inner`. */
class WatchingSampler implements Sampler {
  readonly seen = new Map<string, { kind: SpanKind; attributes: Attributes }>();
  readonly #inner: Sampler;
  constructor(inner: Sampler) {
    this.#inner = inner;
  }
  shouldSample(context: Context, traceId: string, name: string, kind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
    this.seen.set(name, { kind, attributes: { ...attributes } });
    return this.#inner.shouldSample(context, traceId, name, kind, attributes, links);
  }
  toString(): string {
    return 'WatchingSampler';
  }
}

let recorder: SpanRecorder | undefined;
afterEach(async () => {
  await recorder?.shutdown();
  recorder = undefined;
});

function consumed(offset: string): KafkaMessage {
  return { key: Buffer.from('order-7'), value: Buffer.from('{}'), timestamp: '1700000000000', attributes: 0, offset, headers: {} };
}
const payload = (message: KafkaMessage): EachMessagePayload => ({ topic: 'orders', partition: 2, message, heartbeat: async () => undefined, pause: () => () => undefined });

describe('what a sampler sees at span start, and what a recorded span carries', () => {
  it('a Kafka process span starts with system, operation, destination and group; the rest follows on a recorded span', async () => {
    const sampler = new WatchingSampler(new AlwaysOnSampler());
    recorder = recordSpans({ sampler });
    const handler = traceEachMessage({ groupId: 'billing', brokers: ['kafka-1:9092'], clientId: 'billing-svc' })(async () => undefined);
    await handler(payload(consumed('41')));

    expect(sampler.seen.get('process orders')).toEqual({
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system.name': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': 'orders',
        'messaging.consumer.group.name': 'billing',
      },
    });
    expect(findSpan(recorder.spans(), 'process orders').attributes).toEqual({
      'messaging.system.name': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'orders',
      'messaging.consumer.group.name': 'billing',
      'messaging.destination.partition.id': '2',
      'kafka.offset': 41,
      'kafka.message.key': 'order-7',
      'server.address': 'kafka-1',
      'server.port': 9092,
      'messaging.client.id': 'billing-svc',
    });
  });

  it('a Kafka send span starts with system, operation and destination; server and client id follow', async () => {
    const sampler = new WatchingSampler(new AlwaysOnSampler());
    recorder = recordSpans({ sampler });
    const producer = traceProducer({ brokers: ['kafka-1:9092'], clientId: 'shop' })(new FakeProducer() as unknown as Producer);
    await producer.send({ topic: 'orders', messages: [{ value: 'one' }] });

    expect(sampler.seen.get('send orders')?.attributes).toEqual({
      'messaging.system.name': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'orders',
    });
    expect(findSpan(recorder.spans(), 'send orders').attributes).toEqual({
      'messaging.system.name': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'orders',
      'server.address': 'kafka-1',
      'server.port': 9092,
      'messaging.client.id': 'shop',
    });
  });

  it('under the legacy names, the sampler sees them too', async () => {
    const sampler = new WatchingSampler(new AlwaysOnSampler());
    recorder = recordSpans({ sampler });
    const handler = traceEachMessage({ groupId: 'billing', semconv: 'legacy' })(async () => undefined);
    await handler(payload(consumed('7')));
    expect(sampler.seen.get('process orders')?.attributes).toEqual({
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'orders',
      'messaging.consumer.group.name': 'billing',
    });
    expect(findSpan(recorder.spans(), 'process orders').attributes['messaging.kafka.offset']).toBe(7);
  });

  it('a dropped span still propagates, and its handler and message flow as usual', async () => {
    const sampler = new WatchingSampler(new AlwaysOffSampler());
    recorder = recordSpans({ sampler });
    const bus = new MemoryBus();
    const seen: string[] = [];
    bus.subscribe('orders', traceMemoryHandler()((message, trace) => void seen.push(`${String(message.headers?.traceparent)} ${trace.sampled}`)));
    await traceMemoryPublisher()(bus).publish('orders', { payload: 1 });
    await bus.close();

    expect(recorder.spans()).toEqual([]);
    expect(recorder.openSpans()).toEqual([]);
    expect(sampler.seen.get('send orders')?.attributes).toEqual({
      'messaging.system.name': 'tracebus.memory',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'orders',
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00 false$/);
  });
});

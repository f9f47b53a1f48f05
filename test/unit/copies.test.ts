// Two copies of tracebus in one process: what an application gets that loads tracebus as an
// ES module and a library of it through `require` (or that has two installs of it). Each
// test loads a second copy of every tracebus module with vi.resetModules(); the
// OpenTelemetry packages stay one copy, as in such an application.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SpanKind } from '@opentelemetry/api';
import type { EachMessagePayload } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { asConsumer, asProducer, FakeConsumer, FakeProducer } from '../support/fakes/kafkajs.ts';
import { FakeChannel } from '../support/fakes/amqplib.ts';

type Kafkajs = typeof import('../../src/kafkajs/index.ts');
type Amqplib = typeof import('../../src/amqplib/index.ts');
type AcmModule = typeof import('../../src/amqp-connection-manager/index.ts');

/** A fresh copy of a tracebus entry point: every module under src/ loaded anew. */
async function copyOf<M>(load: () => Promise<M>): Promise<M> {
  vi.resetModules();
  return load();
}

const kafkajsCopy = () => copyOf<Kafkajs>(() => import('../../src/kafkajs/index.ts'));
const amqplibCopy = () => copyOf<Amqplib>(() => import('../../src/amqplib/index.ts'));

const SAMPLED = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('two copies of tracebus in one process', () => {
  let recorder: SpanRecorder;
  beforeEach(() => {
    recorder = recordSpans();
  });
  afterEach(() => recorder.shutdown());

  it('are two copies: their functions differ', async () => {
    const first = await kafkajsCopy();
    const second = await kafkajsCopy();
    // Without this, every test below would pass on one copy.
    expect(second.traceProducer).not.toBe(first.traceProducer);
  });

  it("a producer one copy traced is traced already for the other, which says so rather than tracing it again", async () => {
    const first = await kafkajsCopy();
    const second = await kafkajsCopy();
    const traced = first.traceProducer()(asProducer(new FakeProducer()));
    expect(() => second.traceProducer()(traced)).toThrow('tracebus: this producer is traced already; wrap the original producer once, with traceProducer(options)(producer)');
  });

  it("a consumer given a handler the other copy's middleware traced runs it as it is: one process span a message", async () => {
    const first = await kafkajsCopy();
    const second = await kafkajsCopy();
    const handled: string[] = [];
    const eachMessage = first.traceEachMessage({ groupId: 'billing' })(async ({ message }, handlerTrace) => void handled.push(`${message.offset} ${handlerTrace.traceId}`));
    const raw = new FakeConsumer();
    await second.traceConsumer({ groupId: 'billing' })(asConsumer(raw)).run({ eachMessage });
    // The consumer decorator passed the traced handler on untouched.
    expect(raw.runs[0]!.eachMessage).toBe(eachMessage);
    const payload: EachMessagePayload = {
      topic: 'orders',
      partition: 0,
      message: { key: null, value: Buffer.from('x'), timestamp: '0', attributes: 0, offset: '7', headers: { traceparent: Buffer.from(SAMPLED) } },
      heartbeat: async () => undefined,
      pause: () => () => undefined,
    };
    await raw.runs[0]!.eachMessage!(payload);
    expect(handled).toEqual(['7 4bf92f3577b34da6a3ce929d0e0e4736']);
    const spans = recorder.spans();
    expect(spans.map((span) => [span.name, span.kind, span.parentSpanContext?.spanId])).toEqual([['process orders', SpanKind.CONSUMER, '00f067aa0ba902b7']]);
  });

  it('an amqplib channel one copy traced is traced already for the other', async () => {
    const first = await amqplibCopy();
    const second = await amqplibCopy();
    const traced = first.traceChannel()(new FakeChannel() as never);
    expect(() => second.traceChannel()(traced)).toThrow('tracebus: this channel is traced already; wrap the original channel once, with traceChannel(options)(channel)');
  });

  it("a ChannelWrapper one copy traced is refused by the other's traceChannelWrapper", async () => {
    const first = await copyOf<AcmModule>(() => import('../../src/amqp-connection-manager/index.ts'));
    const second = await copyOf<AcmModule>(() => import('../../src/amqp-connection-manager/index.ts'));
    const wrapper = fakeChannelWrapper();
    first.traceChannelWrapper()(wrapper as never);
    expect(() => second.traceChannelWrapper()(wrapper as never)).toThrow('tracebus: traceChannelWrapper(options)(channelWrapper) got a ChannelWrapper it traced before');
  });

  it('a copy that finds something else under its global key keeps its marks to itself, and works', () => {
    // In a process of its own: the key is set once for the life of a process.
    const checks = fileURLToPath(new URL('../../src/core/checks.ts', import.meta.url));
    const script = `
      globalThis[Symbol.for('tracebus.marks.v1')] = 'not ours';
      const { markTraced, isTraced } = await import(${JSON.stringify(checks)});
      const handler = markTraced(() => undefined);
      console.log(JSON.stringify([isTraced(handler), isTraced(() => undefined), globalThis[Symbol.for('tracebus.marks.v1')]]));
    `;
    const flags = process.features.typescript ? [] : ['--experimental-strip-types', '--no-warnings'];
    const output = execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(output)).toEqual([true, false, 'not ours']);
  });
});

/** An amqp-connection-manager ChannelWrapper as far as traceChannelWrapper reads one. */
function fakeChannelWrapper() {
  return {
    publish: async () => true,
    sendToQueue: async () => true,
    consume: async () => ({ consumerTag: 'c' }),
    addSetup: async () => undefined,
    removeSetup: async () => undefined,
    on: () => undefined,
    once: () => undefined,
    removeListener: () => undefined,
    close: async () => undefined,
    waitForConnect: async () => undefined,
    queueLength: () => 0,
  };
}

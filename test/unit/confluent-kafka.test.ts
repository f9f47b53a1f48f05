import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { traceConfluentConsumer, traceConfluentEachBatch, traceConfluentEachMessage, traceConfluentProducer, type ConfluentBatchMessageTrace, type TracedConfluentConsumer } from '../../src/confluent-kafka/index.ts';
import { assertChildOf, findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { traceConsumer, traceProducer } from '../../src/kafkajs/index.ts';
import { asProducer, FakeProducer } from '../support/fakes/kafkajs.ts';
import { asConfluentConsumer, asConfluentProducer, confluentMessage, FakeConfluentConsumer, FakeConfluentProducer, type FakeClientConfig, type FakeConsumerConfig } from '../support/fakes/confluent-kafka.ts';

// The Confluent binding without a broker: the wrapper shape and its checks, and what this
// client does differently from kafkajs (the transaction is the producer, no events, the
// group in the configuration, header values it refuses). Against a broker:
// test/{contract,conformance,integration}/confluent-kafka.test.ts.

const wire = (span: ReadableSpan) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;
const app = () => trace.getTracer('app');

let recorder: SpanRecorder;
beforeEach(() => {
  recorder = recordSpans();
});
afterEach(async () => {
  await recorder.shutdown();
});

describe('the Confluent wrappers have the one API shape', () => {
  it('a client where the options belong, options where the client belongs, and wrapping twice name the fix', () => {
    const producer = asConfluentProducer(new FakeConfluentProducer());
    expect(() => traceConfluentProducer(producer as never)).toThrow(/^tracebus: traceConfluentProducer\(options\) got a producer where its options belong; write traceConfluentProducer\(options\)\(producer\)/);
    expect(() => traceConfluentConsumer(asConfluentConsumer(new FakeConfluentConsumer('g')) as never)).toThrow(/^tracebus: traceConfluentConsumer\(options\) got a consumer where its options belong/);
    expect(() => traceConfluentEachMessage((async () => undefined) as never)).toThrow(/^tracebus: traceConfluentEachMessage\(options\) got a function where its options belong/);
    expect(() => traceConfluentProducer()({ brokers: ['127.0.0.1:9092'] } as never)).toThrow(
      /^tracebus: traceConfluentProducer\(options\)\(producer\) needs a producer of @confluentinc\/kafka-javascript's KafkaJS API, e\.g\. traceConfluentProducer\(options\)\(kafka\.producer\(\)\); got an object; options go in the first call: traceConfluentProducer\(options\)\(producer\)$/,
    );
    expect(() => traceConfluentEachBatch()({ groupId: 'g' } as never)).toThrow(/needs a handler function \(payload, trace\) => …; got an object; options go in the first call: traceConfluentEachBatch\(options\)\(handler\)$/);
    const traced = traceConfluentProducer()(producer);
    expect(() => traceConfluentProducer()(traced)).toThrow(/^tracebus: this producer is traced already; wrap the original producer once, with traceConfluentProducer\(options\)\(producer\)$/);
    expect(() => traceConfluentProducer({ brokers: [42] as never })).toThrow(/^tracebus: traceConfluentProducer\(\{ brokers \}\) takes the broker list/);
  });

  it('wraps a consumer whose on() and events throw, as this client\'s do, and a running one cannot be told', () => {
    const raw = new FakeConfluentConsumer('billing');
    raw.pause();
    expect(() => traceConfluentConsumer()(asConfluentConsumer(raw))).not.toThrow();
    // kafkajs's wrapper, given this client's consumer, says which wrapper it needs.
    expect(() => traceConsumer()(asConfluentConsumer(new FakeConfluentConsumer('g')) as never)).toThrow(
      "tracebus: traceConsumer(options)(consumer) is for kafkajs; this is a consumer of @confluentinc/kafka-javascript: trace it with traceConfluentConsumer(options)(consumer) from 'tracebus/confluent-kafka'",
    );
  });
});

describe('traceConfluentConsumer', () => {
  it('reads the group from the consumer configuration at run(), and the groupId option overrides it', async () => {
    const raw = new FakeConfluentConsumer('billing');
    const traced = traceConfluentConsumer()(asConfluentConsumer(raw));
    await traced.connect();
    await traced.run({ eachMessage: async () => undefined });
    const overridden = new FakeConfluentConsumer('billing');
    const explicitly = traceConfluentConsumer({ groupId: 'explicit' })(asConfluentConsumer(overridden));
    await explicitly.connect();
    await explicitly.run({ eachMessage: async () => undefined });
    const payload = (message: KafkaJS.KafkaMessage) => ({ topic: 'orders', partition: 2, message, heartbeat: async () => undefined, pause: () => () => undefined });
    await raw.runs[0]!.eachMessage!(payload(confluentMessage('7')));
    await overridden.runs[0]!.eachMessage!(payload(confluentMessage('8')));

    const [learnt, explicit] = recorder.spans().filter((span) => span.name === 'process orders');
    expect(learnt!.attributes).toMatchObject({ 'messaging.consumer.group.name': 'billing', 'messaging.destination.partition.id': '2', 'kafka.offset': 7, 'kafka.message.key': 'k-7' });
    expect(explicit!.attributes['messaging.consumer.group.name']).toBe('explicit');
  });

  /** Runs `traced` (connected first, as the client requires) with an eachMessage and an eachBatch consumer; returns the attributes of their spans. */
  async function spanAttributes(wrap: ReturnType<typeof traceConfluentConsumer>, config: FakeConsumerConfig): Promise<Record<string, unknown>> {
    const raw = new FakeConfluentConsumer(config);
    const consumer = wrap(asConfluentConsumer(raw));
    await consumer.connect();
    await consumer.run({ eachMessage: async () => undefined });
    await raw.runs[0]!.eachMessage!({ topic: 'configured', partition: 0, message: confluentMessage('1'), heartbeat: async () => undefined, pause: () => () => undefined });
    const [span] = recorder.spans().filter((each) => each.name === 'process configured');
    recorder.reset();
    const { 'server.address': address, 'server.port': port, 'messaging.client.id': clientId } = span!.attributes;
    return { address, port, clientId };
  }

  it("learns server.* and messaging.client.id from the consumer's kafkaJS block, as kafka.consumer() merges it", async () => {
    const learnt = await spanAttributes(traceConfluentConsumer(), { kafkaJS: { groupId: 'g', brokers: ['kafka-1.internal:9093', 'kafka-2.internal:9093'], clientId: 'billing' } });
    expect(learnt).toEqual({ address: 'kafka-1.internal', port: 9093, clientId: 'billing' });
  });

  it("learns them from librdkafka's own keys too, which win over the kafkaJS block, and from metadata.broker.list", async () => {
    const config = { kafkaJS: { groupId: 'g', brokers: ['kafkajs-block:9092'], clientId: 'from-block' }, 'bootstrap.servers': 'SSL://b1.internal:9094,b2.internal:9094', 'client.id': 'from-librdkafka' };
    expect(await spanAttributes(traceConfluentConsumer(), config)).toEqual({ address: 'b1.internal', port: 9094, clientId: 'from-librdkafka' });
    expect(await spanAttributes(traceConfluentConsumer(), { 'group.id': 'g', 'metadata.broker.list': '[::1]:9095' })).toEqual({ address: '::1', port: 9095, clientId: undefined });
  });

  it('the brokers and clientId options win over the configuration, each on its own; none configured, none on the spans', async () => {
    const config = { kafkaJS: { groupId: 'g', brokers: ['configured:9092'], clientId: 'configured' } };
    expect(await spanAttributes(traceConfluentConsumer({ brokers: ['explicit:1234'], clientId: 'explicit' }), config)).toEqual({ address: 'explicit', port: 1234, clientId: 'explicit' });
    expect(await spanAttributes(traceConfluentConsumer({ clientId: 'explicit' }), config)).toEqual({ address: 'configured', port: 9092, clientId: 'explicit' });
    expect(await spanAttributes(traceConfluentConsumer({ brokers: 'explicit:1234' }), config)).toEqual({ address: 'explicit', port: 1234, clientId: 'configured' });
    expect(await spanAttributes(traceConfluentConsumer(), { kafkaJS: { groupId: 'g' } })).toEqual({ address: undefined, port: undefined, clientId: undefined });
  });

  it('one decorator, two consumers: each learns its own configuration; eachBatch spans carry it too', async () => {
    const wrap = traceConfluentConsumer();
    const first = new FakeConfluentConsumer({ kafkaJS: { groupId: 'a', brokers: ['east:9092'], clientId: 'east-client' } });
    const second = new FakeConfluentConsumer({ kafkaJS: { groupId: 'b', brokers: ['west:9093'], clientId: 'west-client' } });
    for (const raw of [first, second]) {
      const consumer = wrap(asConfluentConsumer(raw));
      await consumer.connect();
      await consumer.run({ eachBatch: async (_payload, batchTrace) => batchTrace.forEachMessage(() => undefined, { heartbeat: false, resolveOffsets: false }) });
    }
    for (const [raw, topic] of [[first, 'east'], [second, 'west']] as const) {
      const batch = { topic, partition: 0, messages: [confluentMessage('5')] };
      await raw.runs[0]!.eachBatch!({ batch, resolveOffset: () => undefined, heartbeat: async () => undefined, isRunning: () => true, isStale: () => false } as never);
    }
    const seen = recorder.spans().map((span) => [span.name, span.attributes['messaging.batch.message_count'] ?? 'message', span.attributes['server.address'], span.attributes['server.port'], span.attributes['messaging.client.id']]);
    expect(seen).toEqual([
      ['process east', 'message', 'east', 9092, 'east-client'],
      ['process east', 1, 'east', 9092, 'east-client'],
      ['process west', 'message', 'west', 9093, 'west-client'],
      ['process west', 1, 'west', 9093, 'west-client'],
    ]);
  });

  it('continues the trace of Buffer headers, a repeated traceparent restarts it, and no headers at all is a new trace', async () => {
    const raw = new FakeConfluentConsumer('g');
    const seen: string[] = [];
    await traceConfluentConsumer()(asConfluentConsumer(raw)).run({ eachMessage: async (_payload, messageTrace) => void seen.push(messageTrace.traceId) });
    const parent = `00-${'4bf92f3577b34da6a3ce929d0e0e4736'}-00f067aa0ba902b7-01`;
    const deliver = (message: KafkaJS.KafkaMessage) => raw.runs[0]!.eachMessage!({ topic: 't', partition: 0, message, heartbeat: async () => undefined, pause: () => () => undefined });
    await deliver(confluentMessage('0', { traceparent: Buffer.from(parent) }));
    await deliver(confluentMessage('1', { traceparent: [Buffer.from(parent), Buffer.from(parent)] }));
    await deliver(confluentMessage('2'));
    expect(seen[0]).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(seen[1]).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(new Set(seen).size).toBe(3);
  });
});

describe("traceConfluentConsumer: forEachMessage and the traced consumer's disconnect()", () => {
  // This client's batches answer isRunning() true after disconnect() (1.10): these do throughout.
  const batchOfFive = () =>
    ({ batch: { topic: 't', partition: 0, messages: ['0', '1', '2', '3', '4'].map((offset) => confluentMessage(offset)) }, resolveOffset: () => undefined, heartbeat: async () => undefined, isRunning: () => true, isStale: () => false }) as never;
  const ALL = ['0', '1', '2', '3', '4'];
  const STOPPED = ['0', '1'];

  /** An eachBatch handler whose forEachMessage records each offset into `handled` and calls `during()` in the work of offset 1. */
  const recording = (handled: string[], during: () => unknown) => async (_payload: KafkaJS.EachBatchPayload, batchTrace: ConfluentBatchMessageTrace) =>
    batchTrace.forEachMessage((message) => {
      handled.push(message.offset);
      if (message.offset === '1') during();
    });

  /** A connected fake consumer and its traced consumer. */
  async function tracedFake(raw = new FakeConfluentConsumer('g')): Promise<{ raw: FakeConfluentConsumer; consumer: TracedConfluentConsumer }> {
    const consumer = traceConfluentConsumer()(asConfluentConsumer(raw));
    await consumer.connect();
    return { raw, consumer };
  }

  /** Runs `consumer` with `settings` (given a recording handler that calls `during()`), has `raw` deliver a batch of five to it, and returns the offsets handled. */
  async function handledOf(raw: FakeConfluentConsumer, consumer: TracedConfluentConsumer, settings: object, during: () => unknown): Promise<string[]> {
    const handled: string[] = [];
    // Object.assign, not a spread: the settings keep their prototype.
    await consumer.run(Object.assign(settings, { eachBatch: recording(handled, during) }) as never);
    await raw.runs.at(-1)!.eachBatch!(batchOfFive());
    return handled;
  }

  it("stops before the next message once disconnect() is called, only for a run whose own eachBatchAutoResolve is falsy, as the client reads it", async () => {
    const cases: Array<[string, object, string[]]> = [
      ['false', { eachBatchAutoResolve: false }, STOPPED],
      ['0', { eachBatchAutoResolve: 0 }, STOPPED],
      ['the default', {}, ALL],
      ['true', { eachBatchAutoResolve: true }, ALL],
      ['a truthy non-boolean', { eachBatchAutoResolve: 'yes' }, ALL],
      // The client reads the object's own property only.
      ['an inherited false', Object.create({ eachBatchAutoResolve: false }) as object, ALL],
      // Unreadable: taken as on, the side that skips no message.
      [
        'a getter that throws',
        {
          get eachBatchAutoResolve(): never {
            throw new Error('unreadable');
          },
        },
        ALL,
      ],
    ];
    for (const [label, settings, expected] of cases) {
      const { raw, consumer } = await tracedFake();
      expect(await handledOf(raw, consumer, settings, () => consumer.disconnect()), label).toEqual(expected);
    }
  });

  it("a second run() the client refuses leaves the running run's loop as it was, whichever setting either has", async () => {
    const pairs: Array<[object, object, string[]]> = [
      [{ eachBatchAutoResolve: false }, {}, STOPPED],
      [{}, { eachBatchAutoResolve: false }, ALL],
    ];
    for (const [running, refused, expected] of pairs) {
      const { raw, consumer } = await tracedFake();
      const handled: string[] = [];
      await consumer.run({ ...running, eachBatch: recording(handled, () => consumer.disconnect()) });
      await expect(consumer.run({ ...refused, eachBatch: recording([], () => undefined) })).rejects.toThrow('Consumer is already running.');
      await raw.runs[0]!.eachBatch!(batchOfFive());
      expect(handled).toEqual(expected);
    }
  });

  it("run() and disconnect() hand back the client's own promise, and its own throw, with nothing attached: a refused run() not awaited rejects unhandled, as untraced", async () => {
    const raw = new FakeConfluentConsumer('g');
    const returned: unknown[] = [];
    const attached: string[] = [];
    // Each promise the client returns, which tells when anything attaches to it (catch and finally call then).
    const watched = <T>(name: string, promise: Promise<T>): Promise<T> => {
      const then = promise.then;
      Object.defineProperty(promise, 'then', {
        value(this: Promise<T>, ...args: Parameters<Promise<T>['then']>) {
          attached.push(name);
          return then.apply(this, args);
        },
      });
      returned.push(promise);
      return promise;
    };
    const clientRun = raw.run.bind(raw);
    const clientDisconnect = raw.disconnect.bind(raw);
    raw.run = (config) => watched('run', clientRun(config));
    raw.disconnect = () => watched('disconnect', clientDisconnect());
    const { consumer } = await tracedFake(raw);

    const handled: string[] = [];
    let disconnected: unknown;
    const running = consumer.run({ eachBatchAutoResolve: false, eachBatch: recording(handled, () => (disconnected = consumer.disconnect())) });
    const refused = consumer.run({ eachBatch: recording([], () => undefined) });
    await raw.runs[0]!.eachBatch!(batchOfFive());
    expect(returned).toHaveLength(3);
    expect(returned[0]).toBe(running);
    expect(returned[1]).toBe(refused);
    expect(returned[2]).toBe(disconnected);
    expect(attached).toEqual([]);
    expect(handled).toEqual(STOPPED);
    await expect(refused).rejects.toThrow('Consumer is already running.');

    const refusal = new Error('refused');
    raw.disconnect = () => {
      throw refusal;
    };
    expect(() => consumer.disconnect()).toThrow(refusal);
  });

  it("calls the consumer's disconnect() as it is at the call: another instrumentation's patch of it, made before or after the consumer was wrapped, runs", async () => {
    for (const when of ['before', 'after'] as const) {
      class Patchable extends FakeConfluentConsumer {}
      const calls: string[] = [];
      // As shimmer patches a method: on the prototype, marked with the method it wraps.
      const patch = () => {
        const original = Patchable.prototype.disconnect;
        const wrapper = Object.assign(
          function disconnect(this: Patchable) {
            calls.push('patched');
            return original.call(this);
          },
          { __wrapped: true, __original: original },
        );
        Object.defineProperty(Patchable.prototype, 'disconnect', { value: wrapper, writable: true, configurable: true });
      };
      const raw = new Patchable('g');
      if (when === 'before') patch();
      const { consumer } = await tracedFake(raw);
      if (when === 'after') patch();
      expect(await handledOf(raw, consumer, { eachBatchAutoResolve: false }, () => consumer.disconnect()), when).toEqual(STOPPED);
      expect(calls, when).toEqual(['patched']);
    }
  });

  it('does not stop a handler traced with traceConfluentEachBatch, which the traced consumer takes as it is, nor for disconnect() called on the consumer itself', async () => {
    // The one case that stops: the traced consumer's own handler, disconnected through it.
    const own = await tracedFake();
    expect(await handledOf(own.raw, own.consumer, { eachBatchAutoResolve: false }, () => own.consumer.disconnect())).toEqual(STOPPED);

    const middleware = await tracedFake();
    const handled: string[] = [];
    await middleware.consumer.run({ eachBatchAutoResolve: false, eachBatch: traceConfluentEachBatch({ groupId: 'g' })(recording(handled, () => middleware.consumer.disconnect())) });
    await middleware.raw.runs[0]!.eachBatch!(batchOfFive());
    expect(handled).toEqual(ALL);

    const alone = new FakeConfluentConsumer('g');
    await alone.connect();
    const handledAlone: string[] = [];
    await alone.run({ eachBatchAutoResolve: false, eachBatch: traceConfluentEachBatch({ groupId: 'g' })(recording(handledAlone, () => alone.disconnect())) });
    await alone.runs[0]!.eachBatch!(batchOfFive());
    expect(handledAlone).toEqual(ALL);

    const bypassed = await tracedFake();
    expect(await handledOf(bypassed.raw, bypassed.consumer, { eachBatchAutoResolve: false }, () => bypassed.raw.disconnect())).toEqual(ALL);
  });

  it('a disconnect() the client refuses stops at most the batches in flight: one that throws stops none, one that rejects the current batch, and the batches after it are handled whole', async () => {
    const throwing = await tracedFake();
    throwing.raw.disconnect = () => {
      throw new Error('not now');
    };
    let thrown: unknown;
    const call = () => {
      try {
        throwing.consumer.disconnect();
      } catch (error) {
        thrown = error;
      }
    };
    expect(await handledOf(throwing.raw, throwing.consumer, { eachBatchAutoResolve: false }, call)).toEqual(ALL);
    expect(thrown).toEqual(new Error('not now'));

    const rejecting = await tracedFake();
    rejecting.raw.disconnect = () => Promise.reject(new Error('not now'));
    const handled: string[] = [];
    const refusals: Promise<unknown>[] = [];
    const refuse = () => {
      if (refusals.length === 0) refusals.push(rejecting.consumer.disconnect().catch((error: unknown) => error));
    };
    await rejecting.consumer.run({ eachBatchAutoResolve: false, eachBatch: recording(handled, refuse) });
    await rejecting.raw.runs[0]!.eachBatch!(batchOfFive());
    expect(handled).toEqual(STOPPED);
    expect(await refusals[0]).toEqual(new Error('not now'));
    // The consumer goes on: its next batch is handled whole, not stopped for good.
    handled.length = 0;
    await rejecting.raw.runs[0]!.eachBatch!(batchOfFive());
    expect(handled).toEqual(ALL);
  });

  it('each run() gets a signal of its own: on a client that runs again, an earlier disconnect() does not stop the new run, the next one does', async () => {
    // A client that can run again after disconnect() (1.10 cannot).
    const raw = new FakeConfluentConsumer('g');
    raw.run = async (config) => void raw.runs.push(config);
    const { consumer } = await tracedFake(raw);
    expect(await handledOf(raw, consumer, { eachBatchAutoResolve: false }, () => consumer.disconnect())).toEqual(STOPPED);
    await consumer.connect();
    expect(await handledOf(raw, consumer, { eachBatchAutoResolve: false }, () => undefined)).toEqual(ALL);
    expect(await handledOf(raw, consumer, { eachBatchAutoResolve: false }, () => consumer.disconnect())).toEqual(STOPPED);
  });
});

describe('traceConfluentProducer', () => {
  it('sends copies: the client changes what it is given, the caller\'s messages and headers stay as they were', async () => {
    const raw = new FakeConfluentProducer();
    const message = { key: 'k', value: 'v', headers: { 'x-app': 'kept' } };
    await traceConfluentProducer()(asConfluentProducer(raw)).send({ topic: 'orders', messages: [message] });
    expect(message).toEqual({ key: 'k', value: 'v', headers: { 'x-app': 'kept' } });
    const sent = raw.calls[0]!.arg as KafkaJS.ProducerRecord;
    expect(sent.messages[0]!.headers).toEqual({ 'x-app': 'kept', traceparent: wire(findSpan(recorder.spans(), 'send orders')) });
  });

  it("a message class's inherited partition and timestamp stay unseen, as this client reads only a message's own; kafkajs gets them", async () => {
    class Keyed {
      readonly value = 'v';
      get key() {
        return 'k';
      }
    }
    Object.assign(Keyed.prototype, { partition: 3, timestamp: '1700000000000' });
    const seen: Array<Record<string, unknown>> = [];
    const capture = (messages: object[]) => {
      const [message] = messages as Array<Record<string, unknown>>;
      seen.push({ own: Object.keys(message!).filter((key) => key !== 'headers').sort(), partition: message!.partition, key: message!.key });
    };
    class CapturingConfluent extends FakeConfluentProducer {
      override async send(record: KafkaJS.ProducerRecord) {
        capture(record.messages);
        return super.send(record);
      }
    }
    await traceConfluentProducer()(asConfluentProducer(new CapturingConfluent())).send({ topic: 'orders', messages: [new Keyed() as never] });
    const kafkajs = new FakeProducer();
    await traceProducer()(asProducer(kafkajs)).send({ topic: 'orders', messages: [new Keyed() as never] });
    capture((kafkajs.sent[0]!.arg as { messages: object[] }).messages);
    expect(seen).toEqual([
      { own: ['key', 'value'], partition: undefined, key: 'k' },
      { own: ['key', 'partition', 'timestamp', 'value'], partition: 3, key: 'k' },
    ]);
  });

  it('reads server.address and server.port from a broker given with a protocol prefix, as librdkafka takes it', async () => {
    const producer = traceConfluentProducer({ brokers: ['SASL_SSL://b1.internal:9093', 'SASL_SSL://b2.internal:9093'] })(asConfluentProducer(new FakeConfluentProducer()));
    await producer.send({ topic: 'orders', messages: [{ value: 'v' }] });
    expect(findSpan(recorder.spans(), 'send orders').attributes).toMatchObject({ 'server.address': 'b1.internal', 'server.port': 9093 });
  });

  /** What the spans of `wrap`'s producer (of `config`) carry, by span name: `server.*` and `messaging.client.id`, after a send, a bulk send and a transaction. */
  async function producerSpans(wrap: ReturnType<typeof traceConfluentProducer>, config: FakeClientConfig): Promise<Record<string, unknown[]>> {
    const producer = wrap(asConfluentProducer(new FakeConfluentProducer(config)));
    await producer.connect();
    await producer.send({ topic: 'one', messages: [{ value: '1' }] });
    await producer.send({ topic: 'bulk', messages: [{ value: '2' }, { value: '3' }] });
    await producer.transaction();
    await producer.commit();
    const seen: Record<string, unknown[]> = {};
    for (const span of recorder.spans()) seen[span.name] = [span.attributes['server.address'], span.attributes['server.port'], span.attributes['messaging.client.id']];
    recorder.reset();
    return seen;
  }

  it("learns server.* and messaging.client.id from the producer's configuration once connected; create spans carry no client id", async () => {
    const learnt = await producerSpans(traceConfluentProducer(), { kafkaJS: { brokers: ['kafka-1.internal:9093', 'kafka-2.internal:9093'], clientId: 'checkout' } });
    expect(learnt).toEqual({
      'send one': ['kafka-1.internal', 9093, 'checkout'],
      'create bulk': ['kafka-1.internal', 9093, undefined],
      'send bulk': ['kafka-1.internal', 9093, 'checkout'],
      transaction: ['kafka-1.internal', 9093, 'checkout'],
    });
    // librdkafka's own keys win over the kafkaJS block; metadata.broker.list is bootstrap.servers' other name.
    const own = await producerSpans(traceConfluentProducer(), { kafkaJS: { brokers: ['block:9092'], clientId: 'block' }, 'bootstrap.servers': 'SSL://b1.internal:9094', 'client.id': 'own' });
    expect(own['send one']).toEqual(['b1.internal', 9094, 'own']);
    expect((await producerSpans(traceConfluentProducer(), { 'metadata.broker.list': '[::1]:9095' }))['send one']).toEqual(['::1', 9095, undefined]);
  });

  it('the brokers and clientId options win over the configuration, each on its own', async () => {
    const config = { kafkaJS: { brokers: ['configured:9092'], clientId: 'configured' } };
    expect((await producerSpans(traceConfluentProducer({ brokers: ['explicit:1234'], clientId: 'explicit' }), config))['send one']).toEqual(['explicit', 1234, 'explicit']);
    expect((await producerSpans(traceConfluentProducer({ clientId: 'explicit' }), config))['send one']).toEqual(['configured', 9092, 'explicit']);
    expect((await producerSpans(traceConfluentProducer({ brokers: 'explicit:1234' }), config))['send one']).toEqual(['explicit', 1234, 'configured']);
    expect((await producerSpans(traceConfluentProducer(), {}))['send one']).toEqual([undefined, undefined, undefined]);
  });

  it('reads the configuration once, on the first traced call that finds it: none before connect(), whichever object connects', async () => {
    const raw = new FakeConfluentProducer({ kafkaJS: { brokers: ['east:9092'], clientId: 'east' } });
    const reads = vi.spyOn(raw, '_getInternalClient');
    const producer = traceConfluentProducer()(asConfluentProducer(raw));
    await producer.send({ topic: 'early', messages: [{ value: '0' }] });
    // The producer's own connect(), not the traced one's: the configuration is read all the same.
    await raw.connect();
    for (const value of ['1', '2', '3']) await producer.send({ topic: 'later', messages: [{ value }] });
    expect(recorder.spans().map((span) => [span.name, span.attributes['server.address'], span.attributes['messaging.client.id']])).toEqual([
      ['send early', undefined, undefined],
      ['send later', 'east', 'east'],
      ['send later', 'east', 'east'],
      ['send later', 'east', 'east'],
    ]);
    expect(reads).toHaveBeenCalledTimes(2);
  });

  it('one decorator, two producers: each learns its own configuration', async () => {
    const wrap = traceConfluentProducer();
    for (const [region, port] of [['east', 9092], ['west', 9093]] as const) {
      const producer = wrap(asConfluentProducer(new FakeConfluentProducer({ kafkaJS: { brokers: [`${region}:${port}`], clientId: `${region}-client` } })));
      await producer.connect();
      await producer.send({ topic: region, messages: [{ value: 'v' }] });
    }
    expect(recorder.spans().map((span) => [span.name, span.attributes['server.address'], span.attributes['server.port'], span.attributes['messaging.client.id']])).toEqual([
      ['send east', 'east', 9092, 'east-client'],
      ['send west', 'west', 9093, 'west-client'],
    ]);
  });

  it('internals that changed are read as nothing known, never a throw: the sends go through, without server.* nor client id', async () => {
    const changes: Array<(raw: FakeConfluentProducer) => void> = [
      (raw) => Object.defineProperty(raw, '_getInternalClient', { value: undefined }),
      (raw) => Object.defineProperty(raw, '_getInternalClient', { value: () => { throw new Error('gone'); } }),
      (raw) => Object.defineProperty(raw, '_getInternalClient', { value: () => ({ config: {} }) }),
      (raw) => Object.defineProperty(raw, '_getInternalClient', { value: () => ({ globalConfig: { get 'bootstrap.servers'() { throw new Error('gone'); }, 'client.id': 42 } }) }),
      // Unchanged, beside them: its configuration is read.
      () => undefined,
    ];
    for (const [index, change] of changes.entries()) {
      const raw = new FakeConfluentProducer({ kafkaJS: { brokers: ['configured:9092'], clientId: 'configured' } });
      change(raw);
      const producer = traceConfluentProducer()(asConfluentProducer(raw));
      await producer.connect();
      await expect(producer.send({ topic: `changed-${index}`, messages: [{ value: 'v' }] })).resolves.toEqual([{ topicName: `changed-${index}`, partition: 0, errorCode: 0 }]);
    }
    const attributes = recorder.spans().map((span) => [span.name, span.attributes['server.address'], span.attributes['server.port'], span.attributes['messaging.client.id']]);
    expect(attributes).toEqual([
      ['send changed-0', undefined, undefined, undefined],
      ['send changed-1', undefined, undefined, undefined],
      ['send changed-2', undefined, undefined, undefined],
      ['send changed-3', undefined, undefined, undefined],
      ['send changed-4', 'configured', 9092, 'configured'],
    ]);
  });

  it('only a null value is a tombstone: a missing one is refused by this client, and its span says no tombstone', async () => {
    const producer = traceConfluentProducer()(asConfluentProducer(new FakeConfluentProducer()));
    await producer.send({ topic: 'compacted', messages: [{ key: 'k', value: null }] });
    await expect(producer.send({ topic: 'missing', messages: [{ key: 'k', value: undefined } as never] })).rejects.toThrow(/^Message must be a buffer or null$/);
    expect(findSpan(recorder.spans(), 'send compacted').attributes['kafka.message.tombstone']).toBe(true);
    const missing = findSpan(recorder.spans(), 'send missing');
    expect(missing.attributes).not.toHaveProperty('kafka.message.tombstone');
    expect(missing.attributes['error.type']).toBe('Error');
  });

  it('makes header values librdkafka refuses sendable, instead of a send that fails after producing', async () => {
    const raw = new FakeConfluentProducer();
    const headers = { count: 3, flag: true, none: null, missing: undefined, bytes: new Uint8Array([104, 105]), list: ['a', 7, null] };
    await traceConfluentProducer()(asConfluentProducer(raw)).send({ topic: 'orders', messages: [{ value: 'v', headers: headers as never }] });
    const sent = (raw.calls[0]!.arg as KafkaJS.ProducerRecord).messages[0]!.headers!;
    expect({ ...sent, traceparent: undefined }).toEqual({ count: '3', flag: 'true', bytes: Buffer.from('hi'), list: ['a', '7'], traceparent: undefined });
  });

  it("the transaction is the producer: the producer's own sends, commit and sendOffsets belong to the open transaction", async () => {
    const raw = new FakeConfluentProducer();
    const producer = traceConfluentProducer()(asConfluentProducer(raw));
    const consumer = traceConfluentConsumer({ groupId: 'billing' })(asConfluentConsumer(new FakeConfluentConsumer('billing')));
    await app().startActiveSpan('job', async (job) => {
      const transaction = await producer.transaction();
      await transaction.send({ topic: 'a', messages: [{ value: '1' }] });
      await producer.send({ topic: 'b', messages: [{ value: '2' }] });
      await producer.sendOffsets({ consumer: consumer as unknown as KafkaJS.Consumer, topics: [] });
      await producer.commit();
      await producer.send({ topic: 'c', messages: [{ value: '3' }] });
      job.end();
    });

    const spans = recorder.spans();
    const job = findSpan(spans, 'job');
    const transaction = findSpan(spans, 'transaction');
    assertChildOf(transaction, job, spans);
    expect(transaction.attributes['tracebus.kafka.transaction.outcome']).toBe('committed');
    expect(transaction.events.map((event) => [event.name, event.attributes])).toEqual([['kafka.transaction.send_offsets', { 'messaging.consumer.group.name': 'billing' }]]);
    assertChildOf(findSpan(spans, 'send a'), transaction, spans);
    assertChildOf(findSpan(spans, 'send b'), transaction, spans);
    // After the commit, the producer's sends are its own again.
    assertChildOf(findSpan(spans, 'send c'), job, spans);
    expect(raw.calls.map((call) => call.method)).toEqual(['send', 'send', 'sendOffsets', 'commit', 'send']);
    expect(recorder.openSpans()).toEqual([]);
  });

  it('an abort on the producer ends the transaction as aborted; one open at disconnect is abandoned', async () => {
    const raw = new FakeConfluentProducer();
    const producer = traceConfluentProducer()(asConfluentProducer(raw));
    await producer.transaction();
    await producer.abort();
    await producer.transaction();
    await producer.disconnect();
    expect(recorder.spans().filter((span) => span.name === 'transaction').map((span) => span.attributes['tracebus.kafka.transaction.outcome'])).toEqual(['aborted', 'abandoned']);
  });

  it('two wrappers of one producer share its transaction: the sends and commit made through the other belong to it', async () => {
    // Two modules may each wrap a shared producer; this client's transaction is the producer.
    const raw = new FakeConfluentProducer();
    const first = traceConfluentProducer()(asConfluentProducer(raw));
    const second = traceConfluentProducer()(asConfluentProducer(raw));
    await first.transaction();
    await second.send({ topic: 'shared', messages: [{ value: '1' }] });
    await second.commit();
    await second.transaction();
    await first.disconnect();
    const spans = recorder.spans();
    const transactions = spans.filter((span) => span.name === 'transaction');
    expect(transactions.map((span) => span.attributes['tracebus.kafka.transaction.outcome'])).toEqual(['committed', 'abandoned']);
    assertChildOf(findSpan(spans, 'send shared'), transactions[0]!, spans);
    expect(raw.calls.map((call) => call.method)).toEqual(['send', 'commit']);
    expect(recorder.openSpans()).toEqual([]);
  });

  it('sendOffsets is an event only once the client took the offsets: a refused call adds none and rejects with the same error', async () => {
    const raw = new FakeConfluentProducer();
    const producer = traceConfluentProducer()(asConfluentProducer(raw));
    const consumer = traceConfluentConsumer({ groupId: 'billing' })(asConfluentConsumer(new FakeConfluentConsumer('billing')));
    await producer.transaction();
    const refusal = new Error('sendOffsets arguments are invalid');
    const taken = raw.sendOffsets.bind(raw);
    raw.sendOffsets = () => Promise.reject(refusal);
    await expect(producer.sendOffsets({ consumer: consumer as unknown as KafkaJS.Consumer, topics: [] })).rejects.toBe(refusal);
    raw.sendOffsets = taken;
    await expect(producer.sendOffsets({ consumer: consumer as unknown as KafkaJS.Consumer, topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '3' }] }] })).resolves.toBeUndefined();
    await producer.commit();
    const transaction = findSpan(recorder.spans(), 'transaction');
    expect(transaction.events.map((event) => [event.name, event.attributes])).toEqual([['kafka.transaction.send_offsets', { 'messaging.consumer.group.name': 'billing' }]]);
  });

  it('a batch without topicMessages goes to the client as it is, which refuses it (kafkajs sends nothing)', async () => {
    const raw = new FakeConfluentProducer();
    const missing = {} as KafkaJS.ProducerBatch;
    await traceConfluentProducer()(asConfluentProducer(raw)).sendBatch(missing);
    expect(raw.calls[0]!.arg).toBe(missing);
  });

  it('transaction() resolves to the traced producer, as the client resolves to itself: all its calls act on the transaction', async () => {
    const raw = new FakeConfluentProducer();
    expect(await raw.transaction()).toBe(raw);
    await raw.abort();
    const producer = traceConfluentProducer()(asConfluentProducer(raw));
    const first = await producer.transaction();
    expect(first).toBe(producer);
    await first.commit();
    const second = await first.transaction();
    await second.send({ topic: 'next', messages: [{ value: '1' }] });
    await second.disconnect();
    const spans = recorder.spans();
    expect(spans.filter((span) => span.name === 'transaction').map((span) => span.attributes['tracebus.kafka.transaction.outcome'])).toEqual(['committed', 'abandoned']);
    assertChildOf(findSpan(spans, 'send next'), spans.filter((span) => span.name === 'transaction')[1]!, spans);
    expect(recorder.openSpans()).toEqual([]);
  });
});

/**
 * Options and policies as a programmer gets them wrong: a misspelt option name, a value of the
 * wrong kind, a policy an adapter passes unchecked, and semconv names on links.
 */
import { context, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkOptions, MessagingTracer, optionKeys, TRACING_OPTION_KEYS } from '../../src/adapter/index.ts';
import { traceChannel, traceConsume } from '../../src/amqplib/index.ts';
import { traceChannelWrapper } from '../../src/amqp-connection-manager/index.ts';
import { traceConfluentEachMessage, traceConfluentProducer } from '../../src/confluent-kafka/index.ts';
import { traceConsumer, traceEachMessage, traceProducer } from '../../src/kafkajs/index.ts';
import { traceMemoryHandler, traceMemoryPublisher } from '../../src/memory/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';

let recorder: SpanRecorder;
beforeEach(() => {
  recorder = recordSpans();
});
afterEach(() => recorder?.shutdown());

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('a misspelt option name', () => {
  it.each([
    ['traceMemoryHandler', () => traceMemoryHandler({ polciy: 'link' } as never), 'polciy', 'policy'],
    ['traceMemoryPublisher', () => traceMemoryPublisher({ producerhook: () => undefined } as never), 'producerhook', 'producerHook'],
    ['traceEachMessage', () => traceEachMessage({ groupID: 'billing' } as never), 'groupID', 'groupId'],
    ['traceConsumer', () => traceConsumer({ maxlinks: 5 } as never), 'maxlinks', 'maxLinks'],
    ['traceProducer', () => traceProducer({ createSpan: false } as never), 'createSpan', 'createSpans'],
    ['traceConfluentProducer', () => traceConfluentProducer({ semConv: 'legacy' } as never), 'semConv', 'semconv'],
    ['traceConfluentEachMessage', () => traceConfluentEachMessage({ brokrs: ['b:9092'] } as never), 'brokrs', 'brokers'],
    ['traceChannel', () => traceChannel({ onErorr: 'nack' } as never), 'onErorr', 'onError'],
    ['traceChannelWrapper', () => traceChannelWrapper({ serverAdress: 'rabbit' } as never), 'serverAdress', 'serverAddress'],
    ['traceConsume', () => traceConsume({ queue: 'q', noAck: true, consumerHok: () => undefined } as never), 'consumerHok', 'consumerHook'],
  ])('%s throws at once, naming the option meant', (factory, make, key, meant) => {
    expect(make).toThrow(new RegExp(`^tracebus: ${factory}\\(options\\) has no option '${key}'; did you mean '${meant}'\\? Its options are `));
  });

  it('other keys are let be: one configuration object may serve the client and tracebus', () => {
    const kafkaConfig = { clientId: 'billing', brokers: ['b1:9092'], ssl: true, sasl: { mechanism: 'plain' }, connectionTimeout: 3000, retry: { retries: 5 } };
    expect(() => traceProducer(kafkaConfig as never)).not.toThrow();
    expect(() => traceChannel({ exclusive: true, priority: 5 } as never)).not.toThrow();
    // librdkafka's configuration, whose dotted keys look like tracebus's groupId and clientId.
    expect(() => traceConfluentProducer({ 'bootstrap.servers': 'b1:9092', 'client.id': 'billing', 'group.id': 'billing' } as never)).not.toThrow();
  });
});

describe('values of the wrong kind are named as they are', () => {
  it.each([
    [{ maxLinks: '10' }, 'tracebus: maxLinks must be a non-negative integer; got string "10"'],
    [{ maxLinks: 10n }, 'tracebus: maxLinks must be a non-negative integer; got bigint 10'],
    [{ maxLinks: Symbol('x') }, 'tracebus: maxLinks must be a non-negative integer; got a symbol'],
    [{ semconv: () => 'legacy' }, "tracebus: semconv must be 'current', 'legacy' or 'both'; got a function"],
    [{ reportMissingContext: 'no' }, 'tracebus: reportMissingContext must be true or false; got string "no"'],
    [{ policy: null }, "tracebus: policy must be 'parent', 'link', 'root' or a function (message) => policy; got null"],
  ])('%o', (options, message) => {
    expect(() => traceMemoryHandler(options as never)).toThrow(message);
  });

  it('a handler left out names undefined once', () => {
    expect(() => traceMemoryHandler()(undefined as never)).toThrow(/^tracebus: traceMemoryHandler\(options\)\(handler\) needs a handler function \(message, trace\) => …; got undefined$/);
  });

  it('new MessagingTracer(system, options) takes an object or nothing', () => {
    expect(() => new MessagingTracer('bus', null as never)).toThrow('tracebus: new MessagingTracer(system, options) takes TracingOptions, an object, or nothing; got null');
    expect(() => new MessagingTracer('bus', 'kafka' as never)).toThrow('got string "kafka"');
  });
});

describe("an adapter's own checks (tracebus/adapter)", () => {
  /** A client of a transport tracebus does not know, with methods of its own. */
  class Streams {
    xadd(): string {
      return '1-0';
    }
    xread(): void {}
  }

  it('checkOptions refuses a client of another transport given where the options belong, told by the methods the adapter names', () => {
    const known = [...TRACING_OPTION_KEYS, ...optionKeys<{ policy?: string }>({ policy: 1 })];
    // Without the target's methods, nothing tells this client from options.
    expect(checkOptions(new Streams() as never, 'traceStreams', 'client', known)).toBeInstanceOf(Streams);
    expect(() => checkOptions(new Streams() as never, 'traceStreams', 'client', known, ['xadd', 'xread'])).toThrow(
      'tracebus: traceStreams(options) got a client where its options belong; write traceStreams(options)(client), or traceStreams()(client) without options',
    );
    // Options that merely name such a key, not as a method, are options.
    expect(checkOptions({ policy: 'link', xadd: true } as never, 'traceStreams', 'client', known, ['xadd', 'xread'])).toEqual({ policy: 'link', xadd: true });
  });
});

describe('MessagingTracer with a policy its adapter did not check', () => {
  it.each(['Parent', null, 42])('%o keeps the message\'s parent, as a policy function\'s nonsense answer does', (policy) => {
    const tracer = new MessagingTracer('bus');
    const handled = tracer.traceProcess({ type: 'process', destination: 'orders' }, { traceparent: TRACEPARENT }, {}, policy as never, undefined, (messageTrace) => messageTrace.traceId);
    expect(handled).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    const [processed] = recorder.spans();
    expect(processed!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(processed!.links).toEqual([]);
  });
});

describe('semconv names on links', () => {
  it("'legacy' renames a link's attributes as it renames the span's", () => {
    const tracer = new MessagingTracer('rabbitmq', { semconv: 'legacy' });
    const linked = trace.getSpanContext(trace.setSpanContext(ROOT_CONTEXT, { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 }))!;
    const { links } = tracer.links([linked], () => ({ 'rabbitmq.message.delivery_tag': 7 }));
    expect(links[0]!.attributes).toEqual({ 'messaging.rabbitmq.message.delivery_tag': 7 });
    const current = new MessagingTracer('rabbitmq').links([linked], () => ({ 'rabbitmq.message.delivery_tag': 7 }));
    expect(current.links[0]!.attributes).toEqual({ 'rabbitmq.message.delivery_tag': 7 });
    context.with(ROOT_CONTEXT, () => tracer.startSpan({ type: 'settle', name: 'ack', destination: 'q' }, SpanKind.CLIENT, ROOT_CONTEXT, links).end());
    expect(recorder.spans()[0]!.attributes['messaging.system']).toBe('rabbitmq');
  });
});

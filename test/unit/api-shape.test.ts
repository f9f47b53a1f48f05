import type { Channel } from 'amqplib';
import type { Consumer } from 'kafkajs';
import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { traceChannel, traceConsume } from '../../src/amqplib/index.ts';
import { traceConsumer, traceEachBatch, traceEachMessage, traceProducer } from '../../src/kafkajs/index.ts';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from '../../src/memory/index.ts';
import { asChannel, FakeChannel } from '../support/fakes/amqplib.ts';
import { asConsumer, asProducer, FakeConsumer, FakeProducer } from '../support/fakes/kafkajs.ts';

// Every wrapper has one shape, trace<Thing>(options?)(thing), and checks what it is given,
// so that plain JavaScript gets a sentence naming the fix instead of a TypeError later.

const producer = () => asProducer(new FakeProducer());
const channel = () => asChannel(new FakeChannel());
/** `pause([])` throws until `run()` is called, and after `stop()`, as with kafkajs. */
const kafkaLikeConsumer = () => asConsumer(new FakeConsumer());

describe('one API shape: trace<Thing>(options?)(thing)', () => {
  it('a client where the options belong names the fix', () => {
    expect(() => traceProducer(producer() as never)).toThrow(/^tracebus: traceProducer\(options\) got a producer where its options belong; write traceProducer\(options\)\(producer\), or traceProducer\(\)\(producer\) without options$/);
    expect(() => traceConsumer(kafkaLikeConsumer() as never)).toThrow(/^tracebus: traceConsumer\(options\) got a consumer where its options belong; write traceConsumer\(options\)\(consumer\)/);
    expect(() => traceChannel(channel() as never)).toThrow(/^tracebus: traceChannel\(options\) got a channel where its options belong; write traceChannel\(options\)\(channel\)/);
    expect(() => traceMemoryPublisher(new MemoryBus() as never)).toThrow(/^tracebus: traceMemoryPublisher\(options\) got a bus where its options belong; write traceMemoryPublisher\(options\)\(bus\)/);
    expect(() => traceMemoryHandler((async () => undefined) as never)).toThrow(/^tracebus: traceMemoryHandler\(options\) got a function where its options belong; write traceMemoryHandler\(options\)\(handler\), or traceMemoryHandler\(\)\(handler\) without options$/);
    expect(() => traceEachMessage((async () => undefined) as never)).toThrow(/^tracebus: traceEachMessage\(options\) got a function where its options belong; write traceEachMessage\(options\)\(handler\)/);
    expect(() => traceEachBatch((async () => undefined) as never)).toThrow(/^tracebus: traceEachBatch\(options\) got a function where its options belong/);
  });

  it('options where the client belongs name the fix', () => {
    expect(() => traceProducer()({ brokers: ['127.0.0.1:9092'] } as never)).toThrow(/^tracebus: traceProducer\(options\)\(producer\) needs a kafkajs producer, e\.g\. traceProducer\(options\)\(kafka\.producer\(\)\); got an object; options go in the first call: traceProducer\(options\)\(producer\)$/);
    expect(() => traceConsumer()({ groupId: 'billing' } as never)).toThrow(/; got an object; options go in the first call: traceConsumer\(options\)\(consumer\)$/);
    expect(() => traceChannel()({ onError: 'nack' } as never)).toThrow(/; got an object; options go in the first call: traceChannel\(options\)\(channel\)$/);
    expect(() => traceMemoryPublisher()({ producerHook() {} } as never)).toThrow(/^tracebus: traceMemoryPublisher\(options\)\(bus\) needs an object with a publish\(topic, message\) method, such as a MemoryBus; got an object; options go in the first call/);
    expect(() => traceMemoryHandler()({ policy: 'link' } as never)).toThrow(/^tracebus: traceMemoryHandler\(options\)\(handler\) needs a handler function \(message, trace\) => …; got an object; options go in the first call: traceMemoryHandler\(options\)\(handler\)$/);
    expect(() => traceEachMessage()({ groupId: 'g' } as never)).toThrow(/needs a handler function \(payload, trace\) => …; got an object; options go in the first call: traceEachMessage\(options\)\(handler\)$/);
    expect(() => traceConsume({ channel: channel(), queue: 'q' })('q' as never)).toThrow(/^tracebus: traceConsume\(options\)\(handler\) needs a handler function \(message, trace\) => …; got string "q"$/);
  });

  it('a client of another kind is not taken for options', () => {
    // Such as @confluentinc/kafka-javascript's own Producer class, given where its KafkaJS API's producer belongs.
    class OtherProducer {
      produce() {}
      flush() {}
    }
    expect(() => traceProducer()(new OtherProducer() as never)).toThrow(/^tracebus: traceProducer\(options\)\(producer\) needs a kafkajs producer, e\.g\. traceProducer\(options\)\(kafka\.producer\(\)\); got an instance of OtherProducer$/);
  });

  it('wrapping what is traced already fails, on every transport', () => {
    const tracedProducer = traceProducer()(producer());
    expect(() => traceProducer()(tracedProducer)).toThrow(/^tracebus: this producer is traced already; wrap the original producer once, with traceProducer\(options\)\(producer\)$/);
    const tracedConsumer = traceConsumer()(kafkaLikeConsumer());
    expect(() => traceConsumer()(tracedConsumer as Consumer)).toThrow(/^tracebus: this consumer is traced already/);
    const tracedChannel = traceChannel()(channel());
    expect(() => traceChannel()(tracedChannel as Channel)).toThrow(/^tracebus: this channel is traced already/);
    const publisher = traceMemoryPublisher()(new MemoryBus());
    expect(() => traceMemoryPublisher()(publisher)).toThrow(/^tracebus: this bus is traced already; wrap the original bus once, with traceMemoryPublisher\(options\)\(bus\)$/);
    const handler = traceMemoryHandler()(async () => undefined);
    expect(() => traceMemoryHandler()(handler)).toThrow(/^tracebus: this handler is traced already/);
    const eachMessage = traceEachMessage()(async () => undefined);
    expect(() => traceEachMessage()(eachMessage)).toThrow(/^tracebus: this handler is traced already/);
    const eachBatch = traceEachBatch()(async () => undefined);
    expect(() => traceEachBatch()(eachBatch)).toThrow(/^tracebus: this handler is traced already/);
    const consumeCallback = traceConsume({ channel: channel(), queue: 'q' })(async () => undefined);
    expect(() => traceConsume({ channel: channel(), queue: 'q' })(consumeCallback as never)).toThrow(/^tracebus: this handler is traced already/);
  });

  it('a Kafka consumer wrapped after run() fails, and one stopped since can be wrapped', async () => {
    const consumer = kafkaLikeConsumer();
    await consumer.run({ eachMessage: async () => undefined });
    expect(() => traceConsumer()(consumer)).toThrow(/^tracebus: traceConsumer\(options\)\(consumer\) got a consumer whose run\(\) was called already, so its handlers cannot be traced; wrap the consumer before calling run\(\)$/);
    await consumer.stop();
    expect(typeof traceConsumer()(consumer).run).toBe('function');
  });

  it('a tracer provider without getTracer (a tracer, say) fails at once', () => {
    const tracer = trace.getTracer('app');
    const message = /^tracebus: tracerProvider must be a TracerProvider with getTracer\(\), such as the provider NodeSDK or BasicTracerProvider creates \(pass the provider, not a tracer\); omit it to use the global one$/;
    expect(() => traceProducer({ tracerProvider: tracer as never })).toThrow(message);
    expect(() => traceConsumer({ tracerProvider: tracer as never })).toThrow(message);
    expect(() => traceChannel({ tracerProvider: tracer as never })).toThrow(message);
    expect(() => traceMemoryPublisher({ tracerProvider: tracer as never })).toThrow(message);
    expect(() => traceMemoryHandler({ tracerProvider: {} as never })).toThrow(message);
    expect(() => traceMemoryHandler({ meterProvider: {} as never })).toThrow(/^tracebus: meterProvider must be a MeterProvider with getMeter\(\)/);
  });
});

import { SpanKind } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { main as crossTransport } from '../../examples/cross-transport/order-flow.ts';
import { main as kafkaProducerConsumer } from '../../examples/kafka/producer-consumer.ts';
import { main as rabbitmqPublishConsume } from '../../examples/rabbitmq/publish-consume.ts';
import { main as rabbitmqRpc } from '../../examples/rabbitmq/rpc.ts';
import { assertChildOf, assertOneTrace } from '../../src/testing/index.ts';
import { amqpUrl, kafkaBrokers } from '../support/integration.ts';

const service = (span: { resource: { attributes: Record<string, unknown> } }) => span.resource.attributes['service.name'];

describe.skipIf(amqpUrl() === undefined)('examples against RabbitMQ', () => {
  it('examples/rabbitmq/publish-consume.ts: one trace from the HTTP request through the topic exchange to billing', async () => {
    const spans = await rabbitmqPublishConsume(amqpUrl());
    const names = spans.map((span) => span.name);
    const send = names.find((name) => name.startsWith('send shop.events.'))!;
    const processed = names.find((name) => name.startsWith('process shop.events.'))!;
    const [request, sent, consumed] = assertOneTrace(spans, ['POST /orders', send, processed]);
    assertChildOf(sent!, request!, spans);
    assertChildOf(consumed!, sent!, spans);
    expect(sent!.name).toMatch(/^send shop\.events\.[\d.]+:order\.placed$/);
    expect([service(sent!), service(consumed!)]).toEqual(['orders', 'billing']);
    expect(consumed!.kind).toBe(SpanKind.CONSUMER);
    expect(consumed!.attributes['messaging.message.id']).toBe('o-7');
    expect(consumed!.attributes['tracebus.rabbitmq.settlement']).toBe('ack');
  });

  it('examples/rabbitmq/rpc.ts: request and reply are one trace in both directions', async () => {
    const { spans, price } = await rabbitmqRpc(amqpUrl());
    expect(price).toBe('9.99');
    const request = spans.find((span) => span.name.startsWith('send rpc.prices.'))!;
    const [root, sent, served, reply, replied] = assertOneTrace(spans, ['GET /price', request.name, request.name.replace('send', 'process'), 'send amq.rabbitmq.reply-to', 'process amq.rabbitmq.reply-to']);
    assertChildOf(sent!, root!, spans);
    assertChildOf(served!, sent!, spans);
    assertChildOf(reply!, served!, spans);
    assertChildOf(replied!, reply!, spans);
    expect([served, reply, replied].map((span) => service(span!))).toEqual(['pricing', 'pricing', 'storefront']);
    const conversation = sent!.attributes['messaging.message.conversation_id'];
    expect(conversation).toMatch(/^[0-9a-f-]{36}$/);
    for (const span of [served, reply, replied]) expect(span!.attributes['messaging.message.conversation_id']).toBe(conversation);
  });
});

describe.skipIf(kafkaBrokers() === undefined)('examples against Kafka', () => {
  it('examples/kafka/producer-consumer.ts: one trace from the request through Kafka to billing', async () => {
    const spans = await kafkaProducerConsumer(kafkaBrokers());
    const send = spans.find((span) => span.name.startsWith('send orders.'))!;
    const [request, sent, consumed] = assertOneTrace(spans, ['POST /orders', send.name, send.name.replace('send', 'process')]);
    assertChildOf(sent!, request!, spans);
    assertChildOf(consumed!, sent!, spans);
    expect([service(sent!), service(consumed!)]).toEqual(['orders', 'billing']);
    expect(sent!.kind).toBe(SpanKind.PRODUCER);
    expect(consumed!.attributes['kafka.message.key']).toBe('o-7');
    expect(consumed!.attributes['messaging.consumer.group.name']).toMatch(/^billing\.orders\./);
  });
});

describe.skipIf(kafkaBrokers() === undefined || amqpUrl() === undefined)('the cross-transport example', () => {
  it('examples/cross-transport/order-flow.ts: Kafka → RabbitMQ → in-process fan-out is one trace', async () => {
    const spans = await crossTransport({ brokers: kafkaBrokers(), amqpUrl: amqpUrl() });
    const named = (prefix: string) => spans.find((span) => span.name.startsWith(prefix))!;
    const request = named('POST /orders');
    const kafkaSend = named('send orders.placed.');
    const kafkaProcess = named('process orders.placed.');
    const rabbitSend = named('send payments.captured.');
    const rabbitProcess = named('process payments.captured.');
    const busSend = named('send notify');
    const fanOut = spans.filter((span) => span.name === 'process notify');
    assertChildOf(kafkaSend, request, spans);
    assertChildOf(kafkaProcess, kafkaSend, spans);
    assertChildOf(rabbitSend, kafkaProcess, spans);
    assertChildOf(rabbitProcess, rabbitSend, spans);
    assertChildOf(busSend, rabbitProcess, spans);
    expect(fanOut).toHaveLength(2);
    for (const span of fanOut) assertChildOf(span, busSend, spans);
    expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(1);
    expect([kafkaProcess, rabbitProcess, busSend].map(service)).toEqual(['payments', 'notifier', 'notifier']);
    expect([kafkaSend, rabbitSend, busSend].map((span) => span.attributes['messaging.system.name'])).toEqual(['kafka', 'rabbitmq', 'tracebus.memory']);
    expect(fanOut.map((span) => span.attributes['messaging.consumer.group.name']).sort()).toEqual(['email', 'sms']);
  });
});

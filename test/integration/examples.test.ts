import { SpanKind } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { main as rabbitmqPublishConsume } from '../../examples/rabbitmq/publish-consume.ts';
import { main as rabbitmqRpc } from '../../examples/rabbitmq/rpc.ts';
import { assertChildOf, assertOneTrace } from '../../src/testing/index.ts';
import { amqpUrl } from '../support/integration.ts';

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

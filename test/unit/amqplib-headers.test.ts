import { createRequire } from 'node:module';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { consumeDestination, publishDestination } from '../../src/amqplib/attributes.ts';
import { encodedTableSize, frameRoom, headerBudget } from '../../src/amqplib/header-budget.ts';
import { fitTraceHeaders } from '../../src/amqplib/header-budget.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { captureDiagEachTest } from '../support/diag.ts';

// amqplib's own encoder, which its package exports do not expose: the sizes must match it.
const codec = createRequire(import.meta.url)(join(process.cwd(), 'node_modules/amqplib/lib/codec.js')) as {
  encodeTable(buffer: Buffer, table: unknown, offset: number): number;
};
const amqplibSize = (table: Record<string, unknown>) => codec.encodeTable(Buffer.alloc(1 << 20), table, 0);

describe('destination names (semconv rabbitmq.md)', () => {
  // `metric`: the destination metrics carry where a routing key of an exchange is in the name.
  it.each([
    ['orders', 'order.created', 'orders:order.created', 'orders:{routing key}'],
    ['', 'billing', 'billing', undefined],
    ['logs', '', 'logs', undefined],
    ['', '', 'amq.default', undefined],
  ])('publish to exchange %j with routing key %j: %s (metrics: %s)', (exchange, routingKey, name, metric) => {
    expect(publishDestination(exchange, routingKey)).toEqual({ name, template: undefined, metric });
  });

  it.each([
    ['orders', 'order.created', 'billing', 'orders:order.created:billing', 'orders:{routing key}:billing'],
    ['', 'billing', 'billing', 'billing', undefined],
    ['logs', '', 'audit', 'logs:audit', undefined],
    ['', 'key', 'queue', 'key:queue', undefined],
    ['orders', 'billing', 'billing', 'orders:billing', undefined],
    ['', '', '', 'amq.default', undefined],
  ])('consume from exchange %j, routing key %j, queue %j: %s (metrics: %s)', (exchange, routingKey, queue, name, metric) => {
    expect(consumeDestination(exchange, routingKey, queue)).toEqual({ name, template: undefined, metric });
  });

  it('gives server-generated names a template for the span name', () => {
    expect(publishDestination('', 'amq.rabbitmq.reply-to.g1h2AA5yZXBseUAxMjM0NTY3OA')).toEqual({
      name: 'amq.rabbitmq.reply-to.g1h2AA5yZXBseUAxMjM0NTY3OA',
      template: 'amq.rabbitmq.reply-to',
      metric: undefined,
    });
    expect(consumeDestination('', 'amq.rabbitmq.reply-to.g1h2AA5y', 'amq.rabbitmq.reply-to')).toEqual({
      name: 'amq.rabbitmq.reply-to.g1h2AA5y:amq.rabbitmq.reply-to',
      template: 'amq.rabbitmq.reply-to',
      metric: undefined,
    });
    expect(consumeDestination('logs', '', 'amq.gen-JzTY20BRgKO')).toEqual({ name: 'logs:amq.gen-JzTY20BRgKO', template: 'logs:amq.gen-{id}', metric: undefined });
    expect(consumeDestination('', 'amq.gen-JzTY20BRgKO', 'amq.gen-JzTY20BRgKO')).toEqual({ name: 'amq.gen-JzTY20BRgKO', template: 'amq.gen-{id}', metric: undefined });
    expect(publishDestination('amq.topic', 'amq.other')).toEqual({ name: 'amq.topic:amq.other', template: undefined, metric: 'amq.topic:{routing key}' });
    // A server-named queue bound to an exchange: the routing key goes, the queue's template stays.
    expect(consumeDestination('events', 'user.7.created', 'amq.gen-JzTY20BRgKO')).toEqual({
      name: 'events:user.7.created:amq.gen-JzTY20BRgKO',
      template: 'events:user.7.created:amq.gen-{id}',
      metric: 'events:{routing key}:amq.gen-{id}',
    });
  });
});

describe('encodedTableSize', () => {
  const tables: Array<[string, Record<string, unknown>]> = [
    ['empty', {}],
    ['strings, including multi-byte ones', { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`, 'ключ': 'значение ✓', emoji: '🐇' }],
    ['Buffers and arrays', { raw: Buffer.from([1, 2, 3]), list: ['a', Buffer.from('b'), 3, [true, null]] }],
    ['every integer width and floats', { b: 5, bn: -128, s: 300, sn: -32768, i: 70_000, l: 2 ** 40, ln: -(2 ** 40), f: 1.5, big: 2 ** 63, tiny: -0.25 }],
    ['booleans, null and skipped undefined', { yes: true, no: false, none: null, skipped: undefined }],
    ['nested tables', { 'x-death': [{ count: 1, reason: 'rejected', queue: 'work', exchange: '', 'routing-keys': ['work'] }] }],
    [
      'explicitly typed values',
      {
        t: { '!': 'timestamp', value: 1_700_000_000 },
        d: { '!': 'decimal', value: { places: 2, digits: 1234 } },
        f: { '!': 'float', value: 1.5 },
        u8: { '!': 'uint8', value: 200 },
        i16: { '!': 'int16', value: 2 },
        u32: { '!': 'uint32', value: 7 },
        i64: { '!': 'int64', value: 7 },
        f64: { '!': 'float64', value: 7 },
      },
    ],
  ];
  it.each(tables)('matches amqplib for %s', (_label, table) => {
    expect(encodedTableSize(table)).toBe(amqplibSize(table));
  });
});

describe('headerBudget', () => {
  it.each([
    [undefined, 65_536],
    [131_072, 65_536],
    [0xffffffff, 65_536],
    [0, 65_536],
    [8_192, 8_192 - 22],
    [4_096, 4_096 - 22],
  ])('frameMax %j leaves %i bytes for the headers table of a message without other properties', (frameMax, budget) => {
    expect(headerBudget(frameRoom(frameMax), undefined)).toBe(budget);
    expect(headerBudget(frameRoom(frameMax), {})).toBe(budget);
  });

  it('in a small frame, the other properties take their share first, as amqplib encodes them', () => {
    const options = {
      messageId: 'm'.repeat(255),
      correlationId: 'c',
      contentType: 'application/json',
      expiration: 60_000,
      persistent: true,
      priority: 3,
      timestamp: 1_700_000_000,
      CC: ['audit', 'billing'],
      BCC: 'ops',
    };
    // Short strings: length byte + bytes; octets 1 each, timestamp 8; CC/BCC join the table as arrays of long strings.
    const properties = 256 + 2 + 17 + 6 + 1 + 1 + 8 + (1 + 2 + 5 + (5 + 5) + (5 + 7)) + (1 + 3 + 5 + (5 + 3));
    expect(headerBudget(frameRoom(4_096), options)).toBe(4_096 - 22 - properties);
    // A large frame never needs them measured: amqplib's own 64 KiB limit is the budget.
    expect(headerBudget(frameRoom(131_072), options)).toBe(65_536);
  });
});

describe('fitTraceHeaders', () => {
  let recorder: SpanRecorder;
  beforeEach(() => {
    recorder = recordSpans();
  });
  afterEach(async () => {
    await recorder.shutdown();
  });
  const diagnostics = captureDiagEachTest();

  const traceparent = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
  const fit = (headers: Record<string, unknown>, budget: number) => {
    const span = trace.getTracer('t').startSpan('send');
    const result = fitTraceHeaders(headers, budget, span);
    span.end();
    return { result, attributes: recorder.spans()[0]!.attributes };
  };

  it('under amqplib\'s 64 KiB limit, leaves small trace headers alone without measuring: amqplib\'s RangeError is caught', () => {
    const headers = { traceparent, tracestate: 'v=1', 'x-app': 'x'.repeat(65_500) };
    const { result, attributes } = fit(headers, 65_536);
    expect(result).toBe(headers);
    expect(Object.keys(result)).toEqual(['traceparent', 'tracestate', 'x-app']);
    expect(attributes).toEqual({});
  });

  it('measures every table under a smaller budget (a small frame_max), where RabbitMQ would close the connection', () => {
    const budget = headerBudget(frameRoom(4_096), undefined);
    const caller = { 'x-data': 'd'.repeat(3_100) };
    const baggage = `k=${'v'.repeat(950)}`;
    const { result, attributes } = fit({ ...caller, traceparent, baggage }, budget);
    expect(result).toEqual({ ...caller, traceparent });
    expect(encodedTableSize(result)).toBeLessThanOrEqual(budget);
    expect(attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['baggage']);
    expect(diagnostics.warnings).toEqual([`tracebus: left baggage off a message so that its headers fit RabbitMQ's limit of ${budget} bytes (now ${encodedTableSize(result)} bytes)`]);
  });

  it('drops traceparent too when the caller leaves no room for it, and measures always when asked to', () => {
    const caller = { 'x-data': 'd'.repeat(65_500) };
    const span = trace.getTracer('t').startSpan('send');
    const result = fitTraceHeaders({ ...caller, traceparent }, 65_536, span, true);
    span.end();
    expect(result).toEqual(caller);
    expect(recorder.spans()[0]!.attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['traceparent']);
  });

  it('sends headers that are too large even without trace headers as the caller gave them, without any trace header', () => {
    const { result, attributes } = fit({ traceparent, baggage: `k=${'v'.repeat(2_000)}`, 'x-app': 'x'.repeat(500) }, 300);
    expect(result).toEqual({ 'x-app': 'x'.repeat(500) });
    expect(attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['baggage', 'traceparent']);
    expect(diagnostics.warnings).toEqual([`tracebus: left baggage and traceparent off a message whose own headers take ${encodedTableSize(result)} bytes, near or over RabbitMQ's limit of 300; it goes out as without tracing`]);
  });

  it('keeps large trace headers that fit', () => {
    const headers = { traceparent, baggage: `k=${'v'.repeat(5_000)}` };
    expect(fit({ ...headers }, 65_536).result).toEqual(headers);
    expect(diagnostics.warnings).toEqual([]);
  });

  it('drops baggage first, then tracestate, and says so', () => {
    const tracestate = `vendor=${'s'.repeat(2_000)}`;
    const baggage = `k=${'v'.repeat(3_000)}`;
    const onlyBaggage = fit({ traceparent, tracestate, baggage }, encodedTableSize({ traceparent, tracestate }));
    expect(onlyBaggage.result).toEqual({ traceparent, tracestate });
    expect(onlyBaggage.attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['baggage']);
    recorder.reset();
    const both = fit({ traceparent, tracestate, baggage }, 200);
    expect(both.result).toEqual({ traceparent });
    expect(both.attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['baggage', 'tracestate']);
    expect(diagnostics.warnings).toHaveLength(2);
    expect(diagnostics.warnings[1]).toContain('left baggage and tracestate off a message');
  });
});

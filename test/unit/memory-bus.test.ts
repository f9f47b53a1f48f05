import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { headerGetter } from '../../src/adapter/index.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher, type DeadLetter, type MemoryMessage, type OutgoingMessage } from '../../src/memory/index.ts';
import { spanIdPropagator } from '../support/propagators.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';

let recorder: SpanRecorder;
beforeEach(() => {
  recorder = recordSpans();
});
afterEach(async () => {
  await recorder.shutdown();
});

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
};

describe('MemoryBus', () => {
  it('delivers asynchronously: publish resolves before any handler runs', async () => {
    const bus = new MemoryBus();
    const seen: string[] = [];
    bus.subscribe<string>('t', (message) => void seen.push(message.payload));
    await bus.publish('t', { payload: 'a' });
    expect(seen).toEqual([]);
    await bus.close();
    expect(seen).toEqual(['a']);
  });

  it('fans out to every subscription and shares a group between competing consumers', async () => {
    const bus = new MemoryBus();
    const seen: Record<string, number[]> = { audit: [], w1: [], w2: [] };
    bus.subscribe<number>('jobs', (message) => void seen.audit!.push(message.payload));
    bus.subscribe<number>('jobs', (message) => void seen.w1!.push(message.payload), { group: 'workers' });
    bus.subscribe<number>('jobs', (message) => void seen.w2!.push(message.payload), { group: 'workers' });
    for (let index = 0; index < 10; index++) await bus.publish('jobs', { payload: index });
    await bus.close();
    expect(seen.audit).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...seen.w1!, ...seen.w2!].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seen.w1!.length).toBeGreaterThan(0);
    expect(seen.w2!.length).toBeGreaterThan(0);
  });

  it('keeps publish order per subscription, retries included, and runs up to `concurrency` at once', async () => {
    const bus = new MemoryBus({ maxAttempts: 2 });
    const ordered: string[] = [];
    let failedOnce = false;
    bus.subscribe<number>('t', async (message) => {
      await new Promise((resolve) => setTimeout(resolve, 5 - message.payload));
      if (message.payload === 1 && !failedOnce) {
        failedOnce = true;
        throw new Error('once');
      }
      ordered.push(`${message.payload}@${message.attempt}`);
    });
    let running = 0;
    let most = 0;
    bus.subscribe('t', async () => {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
    }, { concurrency: 3 });
    for (let index = 0; index < 5; index++) await bus.publish('t', { payload: index });
    await bus.close();
    expect(ordered).toEqual(['0@1', '1@2', '2@1', '3@1', '4@1']);
    expect(most).toBe(3);
  });

  it('copies payload and headers on publish and per subscription', async () => {
    const bus = new MemoryBus();
    const payload = { items: ['a'] };
    const headers = { id: Buffer.from('x') };
    const received: MemoryMessage<{ items: string[] }>[] = [];
    bus.subscribe<{ items: string[] }>('t', (message) => {
      message.payload.items.push('mutated');
      (message.headers.id as Buffer)[0] = 0x79;
      received.push(message);
    });
    bus.subscribe<{ items: string[] }>('t', (message) => void received.push(message));
    await bus.publish('t', { payload, headers });
    payload.items.push('late');
    headers.id[0] = 0x7a;
    await bus.close();
    expect(received[1]!.payload).toEqual({ items: ['a'] });
    expect(received[1]!.headers.id).toEqual(Buffer.from('x'));
  });

  it('does not carry the publisher’s async context to handlers: only headers connect them', async () => {
    const bus = new MemoryBus();
    const active: unknown[] = [];
    bus.subscribe('t', () => void active.push(trace.getActiveSpan()));
    const span = trace.getTracer('test').startSpan('publisher');
    await context.with(trace.setSpan(context.active(), span), () => bus.publish('t', { payload: 1 }));
    span.end();
    await bus.close();
    expect(active).toEqual([undefined]);
  });

  it('redelivers a failing message, then dead-letters it, while other subscriptions go on', async () => {
    const deadLetters: DeadLetter[] = [];
    const bus = new MemoryBus({ maxAttempts: 3, onDeadLetter: (deadLetter) => deadLetters.push(deadLetter) });
    const attempts: number[] = [];
    const healthy: number[] = [];
    const parked: MemoryMessage[] = [];
    bus.subscribe<number>('t', (message) => {
      attempts.push(message.attempt);
      throw new TypeError(`bad ${message.payload}`);
    }, { group: 'broken' });
    bus.subscribe<number>('t', (message) => void healthy.push(message.payload), { group: 'healthy' });
    bus.subscribe('t.dead-letter', (message) => void parked.push(message));
    await bus.publish('t', { payload: 7, headers: { traceparent: 'kept' } });
    await bus.close();
    expect(attempts).toEqual([1, 2, 3]);
    expect(healthy).toEqual([7]);
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]).toMatchObject({ deadLetterTopic: 't.dead-letter', delivered: true });
    expect((deadLetters[0]!.error as Error).message).toBe('bad 7');
    expect(parked[0]!.payload).toBe(7);
    expect(parked[0]!.headers).toEqual({ traceparent: 'kept', 'x-original-topic': 't', 'x-attempts': '3', 'x-error': 'bad 7' });
  });

  it('warns by default when a message is dead-lettered, so a failure is never silent', async () => {
    const warnings: Error[] = [];
    const listen = (warning: Error) => warnings.push(warning);
    process.on('warning', listen);
    try {
      const bus = new MemoryBus({ maxAttempts: 1 });
      bus.subscribe('orders', () => {
        throw new Error('nope');
      });
      await bus.publish('orders', { payload: 1, id: 'm-1' });
      await bus.close();
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listen);
    }
    expect(warnings.map((warning) => [warning.name, warning.message])).toEqual([
      ['TracebusDeadLetterWarning', "message m-1 on 'orders' failed 1 deliveries to group 'orders#1' and was dropped: 'orders.dead-letter' has no subscription: nope"],
    ]);
  });

  it('close() waits for deliveries in flight and for what they publish, then refuses more', async () => {
    const bus = new MemoryBus();
    const gate = deferred();
    const done: string[] = [];
    bus.subscribe('a', async () => {
      await gate.promise;
      await bus.publish('b', { payload: 'next' });
      done.push('a');
    });
    bus.subscribe('b', () => void done.push('b'));
    await bus.publish('a', { payload: 1 });
    const closing = bus.close();
    setTimeout(gate.resolve, 10);
    await closing;
    expect(done).toEqual(['a', 'b']);
    await expect(bus.publish('a', { payload: 2 })).rejects.toThrow("publish('a') on a closed MemoryBus");
    expect(() => bus.subscribe('a', () => {})).toThrow('subscribe() on a closed MemoryBus');
  });

  it('a closed subscription stops receiving and waits for its own deliveries', async () => {
    const bus = new MemoryBus();
    const seen: number[] = [];
    const subscription = bus.subscribe<number>('t', async (message) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      seen.push(message.payload);
    });
    await bus.publish('t', { payload: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    await subscription.close();
    expect(seen).toEqual([1]);
    await bus.publish('t', { payload: 2 });
    await bus.close();
    expect(seen).toEqual([1]);
  });

  it('close() with several deliveries in flight resolves once the last of them ends', async () => {
    const bus = new MemoryBus();
    const gates = [deferred(), deferred()];
    const ended: number[] = [];
    const subscription = bus.subscribe<number>('t', async (message) => {
      await gates[message.payload]!.promise;
      ended.push(message.payload);
    }, { concurrency: 2 });
    await bus.publish('t', { payload: 0 });
    await bus.publish('t', { payload: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    let closed = false;
    const closing = subscription.close().then(() => void (closed = true));
    gates[0]!.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    expect([ended, closed]).toEqual([[0], false]);
    gates[1]!.resolve();
    await closing;
    expect(ended).toEqual([0, 1]);
  });

  it('delivers a header named __proto__ as a header, not as the prototype of the headers', async () => {
    const bus = new MemoryBus();
    const delivered: Record<string, unknown>[] = [];
    bus.subscribe('t', (message) => void delivered.push(message.headers));
    await bus.publish('t', { payload: 1, headers: JSON.parse('{"__proto__": "legal in AMQP and Kafka", "x-id": "7"}') });
    await bus.close();
    expect(Object.entries(delivered[0]!)).toEqual([['__proto__', 'legal in AMQP and Kafka'], ['x-id', '7']]);
    expect(Object.getPrototypeOf(delivered[0])).toBe(Object.prototype);
  });

  it('dead-letters a message whose handler threw a value that cannot be read as text, without crashing', async () => {
    const bus = new MemoryBus({ maxAttempts: 1, onDeadLetter: (letter) => void letters.push(letter) });
    const letters: DeadLetter[] = [];
    const unreadable = Object.create(null);
    bus.subscribe('t', () => {
      throw unreadable;
    });
    const parked: Array<Record<string, unknown>> = [];
    bus.subscribe('t.dead-letter', (message) => void parked.push(message.headers));
    await bus.publish('t', { payload: 1 });
    await bus.close();
    expect(letters.map((letter) => letter.error)).toEqual([unreadable]);
    expect(parked.map((headers) => headers['x-error'])).toEqual(['(a thrown value that cannot be read)']);
  });

  it('a traced publisher sends a message whose payload comes from its prototype (a class\'s getter) with that payload', async () => {
    const inherited = Object.create({ payload: { orderId: 'o-1' }, id: 'm-o-1' }) as OutgoingMessage;
    const bus = new MemoryBus();
    const received: Array<[unknown, string, unknown]> = [];
    bus.subscribe('orders', (message) => void received.push([message.payload, message.id, typeof message.headers.traceparent]));
    await traceMemoryPublisher()(bus).publish('orders', inherited);
    await bus.close();
    expect(received).toEqual([[{ orderId: 'o-1' }, 'm-o-1', 'string']]);
  });

  it('closing a subscription twice leaves the other members of its group subscribed', async () => {
    const bus = new MemoryBus();
    const received: string[] = [];
    const first = bus.subscribe<number>('t', () => void received.push('first'), { group: 'g' });
    bus.subscribe<number>('t', () => void received.push('second'), { group: 'g' });
    await first.close();
    await first.close();
    await bus.publish('t', { payload: 1 });
    await bus.close();
    expect(received).toEqual(['second']);
  });

  it('rejects misuse with a sentence that names the fix', () => {
    expect(() => new MemoryBus({ maxAttempts: 0 })).toThrow('maxAttempts must be an integer >= 1');
    const bus = new MemoryBus();
    expect(() => bus.subscribe('t', 'handler' as never)).toThrow("subscribe('t', handler) needs a function");
    expect(() => bus.subscribe('t', () => {}, { concurrency: 0 })).toThrow('concurrency must be an integer >= 1');
    return expect(bus.publish('t', 'payload' as never)).rejects.toThrow("publish('t', message) needs a message object such as { payload }");
  });

  it('a group whose last subscription closed is gone: what is published meanwhile is dropped, not kept for a later member', async () => {
    const warnings: DeadLetter[] = [];
    const bus = new MemoryBus({ maxAttempts: 1, onDeadLetter: (deadLetter) => void warnings.push(deadLetter) });
    const first = bus.subscribe('t', () => {}, { group: 'g' });
    const deadLetters = bus.subscribe('t.dead-letter', () => {});
    await first.close();
    await deadLetters.close();
    await bus.publish('t', { payload: 'while nobody listens' });
    const later: unknown[] = [];
    bus.subscribe('t', (message) => {
      later.push(message.payload);
      throw new Error('fails');
    }, { group: 'g' });
    await bus.publish('t', { payload: 'after' });
    await bus.close();
    expect(later).toEqual(['after']);
    // The dead-letter topic's only subscription closed: nobody received it there.
    expect(warnings.map(({ deadLetterTopic, delivered }) => [deadLetterTopic, delivered])).toEqual([['t.dead-letter', false]]);
  });

  it('a deadLetterTopic function that throws or answers no topic drops the message with a report, and onDeadLetter still hears of it', async () => {
    const told: Array<[string | undefined, boolean]> = [];
    const choices: Array<(topic: string) => string> = [
      () => {
        throw new Error('no route');
      },
      () => '',
      (topic) => topic,
    ];
    for (const deadLetterTopic of choices) {
      const bus = new MemoryBus({ maxAttempts: 1, deadLetterTopic, onDeadLetter: ({ deadLetterTopic: where, delivered }) => void told.push([where, delivered]) });
      bus.subscribe('audit', () => {
        throw new Error('handler failed');
      });
      await bus.publish('audit', { payload: 1 });
      await bus.close();
    }
    expect(told).toEqual([
      [undefined, false],
      [undefined, false],
      [undefined, false],
    ]);
  });

  it('dead-letters the message as it was published, whatever the handler did to its copy', async () => {
    const bus = new MemoryBus({ maxAttempts: 2 });
    const told: DeadLetter[] = [];
    const bus2 = new MemoryBus({ maxAttempts: 1, onDeadLetter: (deadLetter) => void told.push(deadLetter) });
    const parked: MemoryMessage[] = [];
    for (const target of [bus, bus2]) {
      target.subscribe<{ order: number; status?: string }>('t', (message) => {
        message.payload.status = 'half-done';
        delete (message.headers as Record<string, unknown>).traceparent;
        throw new Error('e');
      });
      target.subscribe('t.dead-letter', (message) => void parked.push(message));
      await target.publish('t', { payload: { order: 1 }, headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
      await target.close();
    }
    for (const message of parked) {
      expect(message.payload).toEqual({ order: 1 });
      expect(message.headers).toMatchObject({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'x-original-topic': 't', 'x-error': 'e' });
    }
    expect(parked.map((message) => message.headers['x-attempts'])).toEqual(['2', '1']);
    expect([told[0]!.message.payload, told[0]!.message.headers.traceparent]).toEqual([{ order: 1 }, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']);
  });

  it('a handler may close its own subscription, or the bus: only the other deliveries are waited for', async () => {
    const bus = new MemoryBus();
    const seen: number[] = [];
    const once = bus.subscribe<number>('t', async (message) => {
      seen.push(message.payload);
      await once.close();
    });
    await bus.publish('t', { payload: 1 });
    await bus.publish('t', { payload: 2 });
    await bus.drained();
    expect(seen).toEqual([1]);
    const closing = new MemoryBus();
    const other = deferred();
    const order: string[] = [];
    closing.subscribe('work', async () => {
      await other.promise;
      order.push('work done');
    });
    closing.subscribe('control', async () => {
      await closing.close();
      order.push('closed');
    });
    await closing.publish('work', { payload: 1 });
    await closing.publish('control', { payload: 'stop' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(order).toEqual([]);
    other.resolve();
    await closing.drained();
    expect(order).toEqual(['work done', 'closed']);
    expect(() => closing.subscribe('t', () => {})).toThrow('closed MemoryBus');
    // A close() a handler starts and leaves running still waits for the other deliveries once that handler is done.
    const concurrent = new MemoryBus();
    const slow = deferred();
    let closed: Promise<void> | undefined;
    let settled = false;
    const both = concurrent.subscribe<string>(
      't',
      async (message) => {
        if (message.payload === 'slow') return slow.promise;
        closed = both.close();
        void closed.then(() => (settled = true));
      },
      { concurrency: 2 },
    );
    await concurrent.publish('t', { payload: 'slow' });
    await concurrent.publish('t', { payload: 'closes' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect([closed !== undefined, settled]).toEqual([true, false]);
    slow.resolve();
    await closed;
    await concurrent.close();
  });

  it('a group name is a non-empty string, and none takes the name of a subscription without a group', async () => {
    const bus = new MemoryBus();
    for (const group of [null, 42, {}, '']) {
      expect(() => bus.subscribe('t', () => {}, { group: group as never })).toThrow(`tracebus: subscribe('t', handler, { group }) needs the group's name, a non-empty string, or no group; got `);
    }
    const audit = bus.subscribe('t', () => {});
    expect(audit.group).toBe('t#1');
    expect(() => bus.subscribe('t', () => {}, { group: 't#1' })).toThrow("names of the form 't#<number>' are those of subscriptions without a group");
    // A name that only looks like one is a group, and its spans name it.
    const received: string[] = [];
    bus.subscribe('t', traceMemoryHandler()((message) => void received.push(message.group)), { group: 't#eu' });
    await traceMemoryPublisher()(bus).publish('t', { payload: 1 });
    await bus.close();
    expect(received).toEqual(['t#eu']);
    expect(recorder.spans().find((span) => span.name === 'process t')!.attributes['messaging.consumer.group.name']).toBe('t#eu');
  });

  it('header values that are objects are copied like the payload, per subscription', async () => {
    const bus = new MemoryBus();
    const seen: unknown[] = [];
    bus.subscribe('t', (message) => {
      (message.headers.tenant as { id: string }).id = 'rewritten by the first';
    });
    bus.subscribe('t', (message) => void seen.push(message.headers.tenant, message.headers.when));
    const tenant = { id: 'acme' };
    const when = new Uint16Array([1, 2]);
    await bus.publish('t', { payload: 1, headers: { tenant, when } });
    tenant.id = 'changed after publishing';
    when[0] = 99;
    await bus.close();
    expect(seen).toEqual([{ id: 'acme' }, new Uint16Array([1, 2])]);
  });

  it('options are checked when given: unknown names, wrong types, delays a timer cannot take', async () => {
    expect(() => new MemoryBus({ retryDelayMs: Infinity })).toThrow('tracebus: retryDelayMs must be a number of milliseconds from 0 to 2147483647; got number Infinity');
    expect(() => new MemoryBus({ retryDelayMs: '100' as never })).toThrow('got string "100"');
    expect(() => new MemoryBus({ maxAttempts: '3' as never })).toThrow('tracebus: maxAttempts must be an integer >= 1; got string "3"');
    expect(() => new MemoryBus({ onDeadLetter: 'log' as never })).toThrow('tracebus: onDeadLetter must be a function (deadLetter) => void; got string "log"');
    expect(() => new MemoryBus(null as never)).toThrow('tracebus: new MemoryBus(options) takes an options object or nothing; got null');
    expect(() => new MemoryBus({ retries: 5 } as never)).toThrow("tracebus: new MemoryBus(options) has no option 'retries'; its options are maxAttempts, retryDelayMs, deadLetterTopic, onDeadLetter");
    const bus = new MemoryBus();
    expect(() => bus.subscribe('t', () => {}, { maxAttempts: 5 } as never)).toThrow("tracebus: subscribe('t', handler, options) has no option 'maxAttempts'; its options are group, concurrency");
    expect(() => bus.subscribe('t', () => {}, null as never)).toThrow("tracebus: subscribe('t', handler, options) takes an options object or nothing; got null");
    await expect(bus.publish('t', { payload: 1, headers: 'abc' as never })).rejects.toThrow("tracebus: publish('t', { headers }) needs headers as a plain object of names and values; got string \"abc\"");
    await expect(bus.publish('t', { payload: 1, headers: new Map() as never })).rejects.toThrow('got an instance of Map');
    // A message that cannot be copied fails whether or not the topic has a subscription.
    await expect(bus.publish('nobody', { payload: () => 1 })).rejects.toThrow("tracebus: publish('nobody') copies each message, as a broker would, and its payload cannot be copied");
    await expect(bus.publish('nobody', { payload: 1, headers: { callback: () => 1 } })).rejects.toThrow("its header 'callback' cannot be copied");
    await bus.close();
  });

  it('a traced publisher leaves a missing message to the bus, which refuses it as without tracing', async () => {
    const bus = new MemoryBus();
    const delivered: unknown[] = [];
    bus.subscribe('t', (message) => void delivered.push(message.payload));
    const publisher = traceMemoryPublisher()(bus);
    for (const missing of [null, undefined, 'payload']) {
      await expect(publisher.publish('t', missing as never)).rejects.toThrow("tracebus: publish('t', message) needs a message object such as { payload }");
    }
    await bus.close();
    expect([delivered, recorder.spans()]).toEqual([[], []]);
  });
});

describe('traceMemoryPublisher: what goes into the headers', () => {
  /** A bus that keeps what it is given. */
  const keeping = () => {
    const published: OutgoingMessage[] = [];
    return { published, bus: { publish: async (_topic: string, message: OutgoingMessage) => void published.push(message) } };
  };

  it('the send span’s context with what the active context carries: the random-trace-id flag of its trace, its trace state, the baggage', async () => {
    const { published, bus } = keeping();
    const incoming = recorder.propagator.extract(ROOT_CONTEXT, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03', tracestate: 'shop=7' }, headerGetter);
    const parent = propagation.setBaggage(incoming, propagation.createBaggage({ tenant: { value: 'acme' } }));
    await context.with(parent, () => traceMemoryPublisher()(bus).publish('orders', { payload: 1, headers: { traceparent: 'stale', 'x-app': 'kept' } }));
    const [send] = recorder.spans();
    expect(published.map((message) => message.headers)).toEqual([
      { 'x-app': 'kept', traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${send!.spanContext().spanId}-03`, tracestate: 'shop=7', baggage: 'tenant=acme' },
    ]);
  });

  it('where the global propagator writes more than the W3C fields, those of the send span too', async () => {
    propagation.disable();
    propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), spanIdPropagator()] }));
    try {
      const { published, bus } = keeping();
      await traceMemoryPublisher()(bus).publish('orders', { payload: 1 });
      const [send] = recorder.spans();
      const { traceId, spanId } = send!.spanContext();
      expect(published.map((message) => message.headers)).toEqual([{ 'x-span-id': spanId, traceparent: `00-${traceId}-${spanId}-01` }]);
    } finally {
      // What this test registered: the next recorder registers its own.
      propagation.disable();
    }
  });
});

/**
 * Bytes on the wire: how many bytes tracing adds to one message, run by scripts/bench/run.ts:
 *   node scripts/bench/wire.ts
 * Prints one JSON line: { variant: 'encoding', messages, seconds, cases, staticHeaders }.
 *
 * The headers are the ones tracebus writes: its kafkajs producer and its amqplib channel,
 * under the SDK of sdk.ts, publish through the no-op clients of noop-clients.ts, which keep
 * what tracebus handed the client. Three cases, each a sampled producer span:
 *   traceparent                       a trace the producer starts
 *   traceparent+tracestate            continuing a trace that carries two vendors' tracestate
 *   traceparent+tracestate+baggage    the same with three baggage entries
 *
 * The sizes come from the clients' own encoders, with and without those headers:
 *   Kafka    kafkajs's Record v0 encoder (recordBatch/record/v0), what its Produce requests
 *            v3 and later carry for each message (the batch around the records is the same)
 *   AMQP     amqplib's codec for a basic.publish: the method frame (defs.encodeMethod), the
 *            content-header frame (defs.encodeProperties) and the body frame
 *            (frame.makeBodyFrame), the options turned into fields and properties by
 *            amqplib's own Args.publish, as Channel#publish does
 * for a 100-byte and a 1 KiB body. `staticHeaders` are the headers of the last case, for the
 * wire section's throughput runs (payload.ts).
 */
import { createRequire } from 'node:module';
import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { ConfirmChannel } from 'amqplib';
import type { Producer } from 'kafkajs';
import { traceChannel } from '../../src/amqplib/index.ts';
import { traceProducer } from '../../src/kafkajs/index.ts';
import { NoopChannel, NoopProducer } from './noop-clients.ts';
import { exportedSpans, registerSdk } from './sdk.ts';

/** A message's context as a service that consumed it holds it: another vendor's trace, its tracestate and baggage. */
const INCOMING = {
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
  baggage: 'customer.id=c-1029384756,tenant=acme-retail,region=eu-west-1',
};
const CASES: { name: string; incoming: Record<string, string> | undefined }[] = [
  { name: 'traceparent', incoming: undefined },
  { name: 'traceparent+tracestate', incoming: { traceparent: INCOMING.traceparent, tracestate: INCOMING.tracestate } },
  { name: 'traceparent+tracestate+baggage', incoming: INCOMING },
];
const DESTINATION = 'orders';
const BODY_SIZES = [100, 1024];
const CHANNEL = 1;

/** One case: the headers tracebus wrote, and the bytes they add on each client's wire. */
export interface WireCase {
  name: string;
  /** The trace headers of the Kafka record, as tracebus handed them to kafkajs. */
  kafkaHeaders: Record<string, string>;
  /** The AMQP headers table, as tracebus handed it to amqplib. */
  amqpHeaders: Record<string, string>;
  /** Bytes added to one encoded Kafka record / one AMQP basic.publish (the same for every body size). */
  kafkaAddedBytes: number;
  amqpAddedBytes: number;
  /** The untraced record and publish, by body size in bytes. */
  kafkaRecordBytes: Record<number, number>;
  amqpPublishBytes: Record<number, number>;
}

// Internal modules of the clients: kafkajs has no `exports` map; amqplib's allows only its
// entry points, so its files are loaded relative to the package's own.
const require = createRequire(import.meta.url);
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (record: { key?: Buffer | null; value: Buffer; headers?: Record<string, string> }) => { buffer: Buffer };
const amqplibFile = createRequire(require.resolve('amqplib'));
const defs = amqplibFile('./lib/defs.js') as { BasicPublish: number; BasicProperties: number; encodeMethod: (id: number, channel: number, fields: object) => Buffer; encodeProperties: (id: number, channel: number, size: number, fields: object) => Buffer };
const Args = amqplibFile('./lib/api_args.js') as { publish: (exchange: string, routingKey: string, options?: object) => object };
const { makeBodyFrame } = amqplibFile('./lib/frame.js') as { makeBodyFrame: (channel: number, payload: Buffer) => Buffer };

const kafkaRecordBytes = (value: Buffer, headers?: Record<string, string>) => encodeRecord({ key: null, value, headers }).buffer.length;

/** The bytes of one basic.publish to the default exchange, as amqplib writes it (a body within one frame). */
function amqpPublishBytes(body: Buffer, options?: object): number {
  const fields = Args.publish('', DESTINATION, options);
  return defs.encodeMethod(defs.BasicPublish, CHANNEL, fields).length + defs.encodeProperties(defs.BasicProperties, CHANNEL, body.length, fields).length + makeBodyFrame(CHANNEL, body).length;
}

const provider = registerSdk();
const producer = new NoopProducer();
const tracedProducer = traceProducer()(producer as unknown as Producer);
const channel = new NoopChannel();
const tracedChannel = traceChannel()(channel as unknown as ConfirmChannel);

/** The headers tracebus writes on each client for one message sent in `parent`. */
async function tracebusHeaders(parent: typeof ROOT_CONTEXT): Promise<{ kafka: Record<string, string>; amqp: Record<string, string>; amqpOptions: object }> {
  const body = Buffer.alloc(BODY_SIZES[0]!, 'x');
  await context.with(parent, () => tracedProducer.send({ topic: DESTINATION, messages: [{ value: body }] }));
  context.with(parent, () => tracedChannel.sendToQueue(DESTINATION, body));
  const record = producer.last!.messages[0]!;
  const published = channel.last!;
  return { kafka: record.headers as Record<string, string>, amqp: published.options?.headers as Record<string, string>, amqpOptions: published.options ?? {} };
}

/** Fails unless `headers` carry a sampled span of the expected trace, and the expected tracestate and baggage. */
function check(name: string, client: string, headers: Record<string, string>, incoming: Record<string, string> | undefined): void {
  const problems: string[] = [];
  const parent = incoming?.traceparent?.split('-')[1];
  const traceparent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(headers.traceparent ?? '');
  if (traceparent === null) problems.push(`traceparent '${headers.traceparent}' is not a sampled span`);
  else if (parent !== undefined && traceparent[1] !== parent) problems.push(`trace ${traceparent[1]} is not the incoming ${parent}`);
  if (headers.tracestate !== incoming?.tracestate) problems.push(`tracestate '${headers.tracestate}', expected '${incoming?.tracestate}'`);
  if (headers.baggage !== incoming?.baggage) problems.push(`baggage '${headers.baggage}', expected '${incoming?.baggage}'`);
  const names = Object.keys(headers).sort().join(',');
  const expected = ['traceparent', ...Object.keys(incoming ?? {}).filter((key) => key !== 'traceparent')].sort().join(',');
  if (names !== expected) problems.push(`headers ${names}, expected ${expected}`);
  if (problems.length > 0) throw new Error(`${name} on ${client}: ${problems.join('; ')}`);
}

const start = process.hrtime.bigint();
const cases: WireCase[] = [];
for (const { name, incoming } of CASES) {
  const parent = incoming === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, incoming);
  const { kafka, amqp, amqpOptions } = await tracebusHeaders(parent);
  check(name, 'kafkajs', kafka, incoming);
  check(name, 'amqplib', amqp, incoming);
  const bodies = BODY_SIZES.map((size) => Buffer.alloc(size, 'x'));
  const added = (sizes: (body: Buffer, traced: boolean) => number) => {
    const differences = new Set(bodies.map((body) => sizes(body, true) - sizes(body, false)));
    if (differences.size !== 1) throw new Error(`${name}: the added bytes depend on the body size: ${[...differences].join(', ')}`);
    return [...differences][0]!;
  };
  cases.push({
    name,
    kafkaHeaders: kafka,
    amqpHeaders: amqp,
    kafkaAddedBytes: added((body, traced) => kafkaRecordBytes(body, traced ? kafka : undefined)),
    amqpAddedBytes: added((body, traced) => amqpPublishBytes(body, traced ? amqpOptions : undefined)),
    kafkaRecordBytes: Object.fromEntries(bodies.map((body) => [body.length, kafkaRecordBytes(body)])),
    amqpPublishBytes: Object.fromEntries(bodies.map((body) => [body.length, amqpPublishBytes(body)])),
  });
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;

// Every message made a producer span on each client, and every one was exported.
await provider.forceFlush();
const spans = exportedSpans();
if (spans !== CASES.length * 2) throw new Error(`expected ${CASES.length * 2} spans, exported ${spans}`);
await provider.shutdown();
trace.disable();
console.log(JSON.stringify({ variant: 'encoding', messages: CASES.length * 2, seconds, spansPerMessage: spans / (CASES.length * 2), cases, staticHeaders: cases.at(-1)!.kafkaHeaders }));

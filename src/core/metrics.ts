import { createNoopMeter, diag, metrics, type Attributes, type Counter, type Histogram, type MeterProvider } from '@opentelemetry/api';
import { reportProblem } from './warnings.ts';
import {
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_DESTINATION_TEMPLATE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from './semconv.ts';
import { INSTRUMENTATION_NAME, VERSION } from './version.ts';

/** Bucket boundaries (seconds) the messaging semantic conventions give for durations. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
/**
 * Bucket boundaries (seconds) of the time in queue: a consumer that lags does so by minutes or
 * hours, which the duration buckets (up to 10 s) would put in one overflow bucket.
 */
export const TIME_IN_QUEUE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400];

export const METRIC_SENT_MESSAGES = 'messaging.client.sent.messages';
export const METRIC_CONSUMED_MESSAGES = 'messaging.client.consumed.messages';
export const METRIC_OPERATION_DURATION = 'messaging.client.operation.duration';
export const METRIC_PROCESS_DURATION = 'messaging.process.duration';
/** Time from the message's produce timestamp to the start of its processing (not a semconv name). */
export const METRIC_TIME_IN_QUEUE = 'tracebus.messaging.time_in_queue';
/** Received messages by what their trace headers held (not a semconv name). */
export const METRIC_PROPAGATION = 'tracebus.propagation.messages';
/** Attribute of {@link METRIC_PROPAGATION}: `valid`, `missing`, `malformed` or `foreign`. */
export const ATTR_PROPAGATION_OUTCOME = 'tracebus.propagation.outcome';

/** What the trace headers of a received message held. */
export type PropagationOutcome = 'valid' | 'missing' | 'malformed' | 'foreign';

export interface Instruments {
  readonly sent: Counter;
  readonly consumed: Counter;
  readonly operationDuration: Histogram;
  readonly processDuration: Histogram;
  readonly timeInQueue: Histogram;
  readonly propagation: Counter;
}

const NOOP_METER = createNoopMeter();

/**
 * The messaging metrics of one adapter. They are off — no instrument is created and no
 * time is taken — until a MeterProvider is registered globally or passed in.
 */
export class MessagingMetrics {
  readonly #meterProvider: MeterProvider | undefined;
  #from: MeterProvider | undefined;
  #instruments: Instruments | undefined;

  constructor(meterProvider?: MeterProvider) {
    this.#meterProvider = meterProvider;
  }

  /** The instruments, or `undefined` while metrics are off. */
  instruments(): Instruments | undefined {
    const provider = this.#meterProvider ?? metrics.getMeterProvider();
    if (provider === this.#from) return this.#instruments;
    this.#from = provider;
    this.#instruments = undefined;
    try {
      const meter = provider.getMeter(INSTRUMENTATION_NAME, VERSION);
      // The API hands out one shared no-op meter while no MeterProvider is registered.
      if (meter === NOOP_METER) return undefined;
      const advice = { explicitBucketBoundaries: DURATION_BUCKETS };
      this.#instruments = {
        sent: safeCounter(meter.createCounter(METRIC_SENT_MESSAGES, { unit: '{message}', description: 'Messages a producer sent.' })),
        consumed: safeCounter(meter.createCounter(METRIC_CONSUMED_MESSAGES, { unit: '{message}', description: 'Messages delivered to a consumer.' })),
        operationDuration: safeHistogram(meter.createHistogram(METRIC_OPERATION_DURATION, { unit: 's', description: 'Duration of a messaging operation (send, receive).', advice })),
        processDuration: safeHistogram(meter.createHistogram(METRIC_PROCESS_DURATION, { unit: 's', description: 'Duration of processing one message or batch.', advice })),
        timeInQueue: safeHistogram(
          meter.createHistogram(METRIC_TIME_IN_QUEUE, { unit: 's', description: "Time from a message's produce timestamp to the start of its processing.", advice: { explicitBucketBoundaries: TIME_IN_QUEUE_BUCKETS } }),
        ),
        propagation: safeCounter(meter.createCounter(METRIC_PROPAGATION, { unit: '{message}', description: 'Received messages by what their trace headers held.' })),
      };
    } catch (problem) {
      // Metrics stay off for this MeterProvider; the messages go on.
      metricsFailed(problem);
    }
    return this.#instruments;
  }
}

function metricsFailed(problem: unknown): void {
  reportProblem('TRACEBUS_TELEMETRY_FAILED', 'tracebus: the MeterProvider or one of its instruments threw; the message goes on without that measurement', problem, 'error');
}

// The SDK's instruments never throw; a MeterProvider of another make might. Recording a
// measurement must not fail a send nor keep a message from its handler.
function safeCounter(counter: Counter): Counter {
  return {
    add(value, attributes, ctx) {
      try {
        counter.add(value, attributes, ctx);
      } catch (problem) {
        metricsFailed(problem);
      }
    },
  };
}

function safeHistogram(histogram: Histogram): Histogram {
  return {
    record(value, attributes, ctx) {
      try {
        histogram.record(value, attributes, ctx);
      } catch (problem) {
        metricsFailed(problem);
      }
    },
  };
}

// Trace headers of other tracing systems: their presence without `traceparent` means a
// producer in the fleet speaks another format, not that it has no tracing.
const FOREIGN_HEADERS = new Set(['b3', 'x-b3-traceid', 'uber-trace-id', 'sw8', 'x-datadog-trace-id', 'mt-activity-id', 'elastic-apm-traceparent', 'x-amzn-trace-id', 'x-cloud-trace-context', 'request-id']);

/** Classifies received headers that did not yield a valid context. */
export function classifyMissingContext(traceparent: unknown, keys: readonly string[]): Exclude<PropagationOutcome, 'valid'> {
  if (traceparent !== undefined) return 'malformed';
  for (const key of keys) if (FOREIGN_HEADERS.has(key.toLowerCase())) return 'foreign';
  return 'missing';
}

const REPORT_INTERVAL_MS = 60_000;
const MAX_REPORT_KEYS = 1_000;

/**
 * Reports messages that arrive without a usable trace context through `diag`: the first
 * one per system, destination and outcome at once, then a count at most once a minute,
 * so that a broken producer shows up instead of silently starting new traces.
 */
export class PropagationReporter {
  readonly #seen = new Map<string, { count: number; reportedAt: number }>();

  report(system: string, destination: string | undefined, outcome: Exclude<PropagationOutcome, 'valid'>): void {
    const key = `${system}\u0000${destination ?? ''}\u0000${outcome}`;
    const now = Date.now();
    let entry = this.#seen.get(key);
    if (entry === undefined) {
      if (this.#seen.size >= MAX_REPORT_KEYS) this.#seen.clear();
      this.#seen.set(key, (entry = { count: 0, reportedAt: 0 }));
    }
    entry.count++;
    if (now - entry.reportedAt < REPORT_INTERVAL_MS) return;
    const what = outcome === 'missing' ? 'no trace headers' : outcome === 'malformed' ? 'a malformed traceparent' : 'trace headers of another format and no traceparent';
    reportProblem('TRACEBUS_MISSING_CONTEXT', `tracebus: ${entry.count} message(s) on ${system} '${destination ?? '(anonymous)'}' arrived with ${what}; each started a new trace`);
    entry.count = 0;
    entry.reportedAt = now;
  }
}

/** Span attributes that metrics keep: the low-cardinality ones semconv lists for metrics (both system names, for the legacy and dual semconv modes). */
export const METRIC_ATTRIBUTES: readonly string[] = [
  'messaging.system.name',
  'messaging.system',
  'messaging.operation.name',
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
];

/**
 * Metric attributes of an operation: the low-cardinality subset of its span attributes.
 * A temporary destination (a reply queue) is named by its template, as semconv asks: its
 * name is per client and would make a new time series per client.
 */
export function metricAttributes(spanAttributes: Attributes, keep: readonly string[] = METRIC_ATTRIBUTES): Attributes {
  const attributes: Attributes = {};
  for (const name of keep) {
    const value = spanAttributes[name];
    if (value !== undefined) attributes[name] = value;
  }
  const template = spanAttributes[ATTR_MESSAGING_DESTINATION_TEMPLATE];
  if (template !== undefined) {
    delete attributes[ATTR_MESSAGING_DESTINATION_NAME];
    attributes[ATTR_MESSAGING_DESTINATION_TEMPLATE] = template;
  }
  return attributes;
}

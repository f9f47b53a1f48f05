/**
 * Where the examples send their spans, chosen by the environment as the OpenTelemetry SDKs
 * choose it:
 *
 * - `OTEL_TRACES_EXPORTER`: a comma-separated list of `otlp`, `zipkin`, `none`. Unset, spans go
 *   over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
 *   set, and nowhere otherwise;
 * - `OTEL_EXPORTER_OTLP_ENDPOINT`: the OTLP/HTTP collector (spans go to `/v1/traces` under it;
 *   default http://localhost:4318), the Jaeger of docker-compose.yml for instance;
 * - `OTEL_EXPORTER_ZIPKIN_ENDPOINT`: default http://localhost:9411/api/v2/spans, the Zipkin of
 *   `scripts/zipkin/zipkin.sh start`.
 *
 * A collector that cannot be reached never crashes an example nor holds its output back. The
 * examples record their spans in memory and print them first; the export runs beside them
 * and is waited for only by `exported()`, the last thing an example does. Each export attempt
 * is bounded in time; the first that fails prints one warning for its collector, and the spans
 * meant for it after that are dropped instead of waiting on it again.
 */
import type { Context } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { BatchSpanProcessor, type ReadableSpan, type Span, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';

/** How long one export may take, the OTLP exporter's retries included. */
export const EXPORT_TIMEOUT_MS = 3_000;
/** How long `exported()` waits at most, whatever the exporters do. */
export const FLUSH_TIMEOUT_MS = 5_000;

export interface Collector {
  kind: 'otlp' | 'zipkin';
  /** Where the spans are posted. */
  endpoint: string;
}

/** The collectors the environment names; empty when spans go nowhere. */
export function collectorsFromEnv(env: NodeJS.ProcessEnv = process.env): Collector[] {
  const listed = env.OTEL_TRACES_EXPORTER?.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
  const otlpSet = Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT);
  const names = listed === undefined || listed.length === 0 ? (otlpSet ? ['otlp'] : []) : listed;
  const collectors: Collector[] = [];
  for (const name of new Set(names)) {
    if (name === 'otlp') collectors.push({ kind: 'otlp', endpoint: otlpEndpoint(env) });
    else if (name === 'zipkin') collectors.push({ kind: 'zipkin', endpoint: env.OTEL_EXPORTER_ZIPKIN_ENDPOINT || 'http://localhost:9411/api/v2/spans' });
    else if (name !== 'none') warnOnce(`exporter:${name}`, `OTEL_TRACES_EXPORTER=${env.OTEL_TRACES_EXPORTER}: the examples export to otlp and zipkin only; "${name}" is ignored.`);
  }
  return collectors;
}

function otlpEndpoint(env: NodeJS.ProcessEnv): string {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4318';
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

const warned = new Set<string>();

function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  console.warn(`warning: ${message}`);
}

function reason(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return [...new Set(error.errors.map(reason))].join('; ');
  if (error instanceof Error) return error.message || (error as NodeJS.ErrnoException).code || error.name;
  return String(error);
}

function hint(collector: Collector): string {
  return collector.kind === 'zipkin'
    ? 'Start Zipkin (bash scripts/zipkin/zipkin.sh start) or unset OTEL_TRACES_EXPORTER.'
    : 'Start the collector (docker compose up -d starts Jaeger) or unset OTEL_EXPORTER_OTLP_ENDPOINT.';
}

/**
 * An exporter that bounds each export, and after its collector failed once, warns once and
 * fails every later export at once instead of trying again.
 */
class GuardedExporter implements SpanExporter {
  /** Spans the collector accepted. */
  sent = 0;
  /** Why the collector could not be reached, once it could not. */
  failure: string | undefined;
  readonly collector: Collector;
  readonly #inner: SpanExporter;
  /** Exports under way: the batch processor's flush does not wait for one its timer started. */
  readonly #pending = new Set<Promise<void>>();

  constructor(collector: Collector, inner: SpanExporter) {
    this.collector = collector;
    this.#inner = inner;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    if (this.failure !== undefined) {
      done({ code: ExportResultCode.FAILED, error: new Error(`${this.collector.endpoint} could not be reached before`) });
      return;
    }
    let settled = false;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#pending.add(promise);
    const finish = (result: ExportResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.#pending.delete(promise);
      resolve();
      if (result.code === ExportResultCode.SUCCESS) this.sent += spans.length;
      else this.#failed(result.error ?? new Error('export failed'));
      done(result);
    };
    const timer = setTimeout(() => finish({ code: ExportResultCode.FAILED, error: new Error(`no answer within ${EXPORT_TIMEOUT_MS} ms`) }), EXPORT_TIMEOUT_MS);
    try {
      this.#inner.export(spans, finish);
    } catch (error) {
      finish({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) });
    }
  }

  #failed(error: unknown): void {
    this.failure ??= reason(error);
    const { kind, endpoint } = this.collector;
    warnOnce(`${kind}:${endpoint}`, `could not export spans to ${kind === 'zipkin' ? 'Zipkin' : 'the OTLP collector'} at ${endpoint} (${this.failure}): the example runs to its end, but its spans are not exported. ${hint(this.collector)}`);
  }

  /** Waits for the exports under way, each bounded by its own timer. */
  async forceFlush(): Promise<void> {
    await Promise.all(this.#pending);
    await bounded(this.#inner.forceFlush?.() ?? Promise.resolve(), EXPORT_TIMEOUT_MS);
  }

  shutdown(): Promise<void> {
    return bounded(this.#inner.shutdown(), EXPORT_TIMEOUT_MS);
  }
}

/** Resolves when `work` settles or after `ms`, whichever comes first; never rejects. */
async function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * Hands spans to a batch processor that several providers share. A provider's `forceFlush` and
 * `shutdown` return at once: they must not wait on a collector before the example has shown
 * its trace. `exported()` sends what is left.
 */
class Handover implements SpanProcessor {
  readonly #target: SpanProcessor;
  constructor(target: SpanProcessor) {
    this.#target = target;
  }
  onStart(span: Span, parentContext: Context): void {
    this.#target.onStart(span, parentContext);
  }
  onEnd(span: ReadableSpan): void {
    this.#target.onEnd(span);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

interface Pipeline {
  key: string;
  exporter: GuardedExporter;
  batch: BatchSpanProcessor;
  /** `exporter.sent` when `exported()` last reported. */
  reported: number;
}

/** One pipeline per collector, shared by every provider in the process. */
const pipelines = new Map<string, Pipeline>();

function pipelineFor(collector: Collector): Pipeline {
  const key = `${collector.kind} ${collector.endpoint}`;
  let found = pipelines.get(key);
  if (found === undefined) {
    const exporter = new GuardedExporter(collector, createExporter(collector));
    // As NodeSDK does, the batch processor's delay may come from the environment.
    const delay = Number(process.env.OTEL_BSP_SCHEDULE_DELAY);
    const batch = new BatchSpanProcessor({ exporter, ...(process.env.OTEL_BSP_SCHEDULE_DELAY && delay >= 0 ? { scheduledDelayMillis: delay } : {}) });
    found = { key, exporter, batch, reported: 0 };
    pipelines.set(key, found);
  }
  return found;
}

function createExporter(collector: Collector): SpanExporter {
  if (collector.kind === 'zipkin') return new ZipkinExporter({ url: collector.endpoint });
  // The exporter's own timeout (10 s by default) spans its retries; keep it inside ours
  // unless the environment sets one.
  const timeoutSet = process.env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT || process.env.OTEL_EXPORTER_OTLP_TIMEOUT;
  return new OTLPTraceExporter({ url: collector.endpoint, ...(timeoutSet ? {} : { timeoutMillis: EXPORT_TIMEOUT_MS - 500 }) });
}

/**
 * Span processors that send spans to the collectors the environment names (none when it
 * names none). Add them next to the in-memory recorder of each provider; they never make a
 * provider's flush or shutdown wait.
 */
export function exportProcessors(): SpanProcessor[] {
  return collectorsFromEnv().map((collector) => new Handover(pipelineFor(collector).batch));
}

/**
 * Sends the spans still waiting to be exported, and resolves within `FLUSH_TIMEOUT_MS` with
 * the collectors that took spans since the last call and never failed. Never rejects: a
 * collector that could not be reached has printed its warning.
 */
export async function exported(): Promise<Collector[]> {
  const all = [...pipelines.values()];
  const flush = ({ batch, exporter }: Pipeline) => batch.forceFlush().catch(() => undefined).then(() => exporter.forceFlush());
  await bounded(Promise.allSettled(all.map(flush)), FLUSH_TIMEOUT_MS);
  const took = all.filter((pipeline) => pipeline.exporter.failure === undefined && pipeline.exporter.sent > pipeline.reported);
  for (const pipeline of all) pipeline.reported = pipeline.exporter.sent;
  return took.map(({ exporter }) => exporter.collector);
}

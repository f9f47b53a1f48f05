/**
 * How every broker benchmark child (kafka.ts, confluent-kafka.ts, rabbitmq.ts) starts: it reads its variant and
 * message count from the command line and sets up the tracing that variant runs under.
 */
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import { CONFIRM_FLOOR } from './results.ts';
import { productionSampler, registerSdk } from './sdk.ts';

/** The variants of every broker benchmark, as run.ts runs them. */
export const BROKER_VARIANTS = ['untraced', 'tracebus', 'tracebus-nosdk', 'otel', 'floor', 'floor+semconv', 'tracebus@1%', 'otel@1%', 'floor+semconv@1%'];

/** The suffix of the variants whose SDK keeps 1% of traces (sdk.ts's `productionSampler`). */
export const SAMPLED_SUFFIX = '@1%';

/**
 * The floor's work done by hand around the client: `plain` records no attributes,
 * `semconv` the ones semantic conventions require, as tracebus records them.
 */
export type FloorKind = 'plain' | 'semconv';

export interface BrokerVariant {
  variant: string;
  messages: number;
  /** The registered SDK's provider, for the variants that trace with one. */
  provider: TracerProvider | undefined;
  /** Whether the SDK samples 1% of traces rather than recording every span. */
  sampled: boolean;
  /** For the floor variants, which floor; `undefined` for the others. */
  floor: FloorKind | undefined;
}

/**
 * Reads `<variant> <messages>` from the command line, registers the SDK of sdk.ts for
 * every variant but `untraced` and `tracebus-nosdk` (with the production sampler for the
 * `@1%` ones), and for `otel` and `otel@1%` the client's official instrumentation.
 * That instrumentation patches the client through a require hook: call this before the
 * client is first loaded, and load the client through CommonJS require. A client with no
 * official instrumentation (no `officialInstrumentation`) has no `otel` variants.
 */
export async function setUpBrokerVariant(defaultMessages: number, officialInstrumentation?: () => Promise<Instrumentation>, extraVariants: string[] = []): Promise<BrokerVariant> {
  const [variant = 'untraced', count = String(defaultMessages)] = process.argv.slice(2);
  const variants = [...(officialInstrumentation === undefined ? BROKER_VARIANTS.filter((name) => !name.startsWith('otel')) : BROKER_VARIANTS), ...extraVariants];
  if (!variants.includes(variant)) throw new Error(`unknown variant '${variant}': use ${variants.join(', ')}`);
  const sampled = variant.endsWith(SAMPLED_SUFFIX);
  const base = sampled ? variant.slice(0, -SAMPLED_SUFFIX.length) : variant;
  const provider = base === 'untraced' || base === 'tracebus-nosdk' ? undefined : registerSdk(sampled ? { sampler: productionSampler() } : {});
  if (base === 'otel' && officialInstrumentation !== undefined) {
    const { registerInstrumentations } = await import('@opentelemetry/instrumentation');
    registerInstrumentations({ instrumentations: [await officialInstrumentation()] });
  }
  const floor = base === 'floor' ? 'plain' : base === 'floor+semconv' || base === CONFIRM_FLOOR ? 'semconv' : undefined;
  return { variant, messages: Number(count), provider, sampled, floor };
}

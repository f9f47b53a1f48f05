/**
 * How every broker benchmark child (kafka.ts, confluent-kafka.ts, rabbitmq.ts) starts: it reads its variant and
 * message count from the command line and sets up the tracing that variant runs under.
 */
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import { registerSdk } from './sdk.ts';

/** The variants of every broker benchmark, as run.ts runs them. */
export const BROKER_VARIANTS = ['untraced', 'tracebus', 'tracebus-nosdk', 'otel', 'floor'];

export interface BrokerVariant {
  variant: string;
  messages: number;
  /** The registered SDK's provider, for the variants that trace with one. */
  provider: TracerProvider | undefined;
}

/**
 * Reads `<variant> <messages>` from the command line, registers the SDK of sdk.ts for
 * `tracebus`, `otel` and `floor`, and for `otel` the client's official instrumentation.
 * That instrumentation patches the client through a require hook: call this before the
 * client is first loaded, and load the client through CommonJS require. A client with no
 * official instrumentation (no `officialInstrumentation`) has no `otel` variant.
 */
export async function setUpBrokerVariant(defaultMessages: number, officialInstrumentation?: () => Promise<Instrumentation>): Promise<BrokerVariant> {
  const [variant = 'untraced', count = String(defaultMessages)] = process.argv.slice(2);
  const variants = officialInstrumentation === undefined ? BROKER_VARIANTS.filter((name) => name !== 'otel') : BROKER_VARIANTS;
  if (!variants.includes(variant)) throw new Error(`unknown variant '${variant}': use ${variants.join(', ')}`);
  const provider = variant === 'tracebus' || variant === 'otel' || variant === 'floor' ? registerSdk() : undefined;
  if (variant === 'otel' && officialInstrumentation !== undefined) {
    const { registerInstrumentations } = await import('@opentelemetry/instrumentation');
    registerInstrumentations({ instrumentations: [await officialInstrumentation()] });
  }
  return { variant, messages: Number(count), provider };
}

/** The instrumentation scope of every tracer and meter tracebus creates. */
export const INSTRUMENTATION_NAME = 'tracebus';

/**
 * tracebus's version, the instrumentation scope version of its spans and metrics. The one
 * place it is written in the sources; a unit test checks it against package.json.
 */
export const VERSION = '0.2.0';

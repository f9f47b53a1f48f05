import { diag } from '@opentelemetry/api';

/**
 * The checks every wrapper makes of what it is given, so that a mistake in plain
 * JavaScript fails at once with a sentence naming the fix, not later inside a client.
 */

/**
 * One set of marks for every copy of tracebus in the process. An application that loads
 * tracebus both as an ES module and through `require` (its own code one way, a library the
 * other) runs two copies of this module, and so does one with two installs of it. Each copy
 * must know what the others traced: else one would trace again a client or a handler the
 * other returned, and every message would get two spans a side. The sets hold marks only, whose
 * meaning does not change from one version to the next; each copy keeps the rest of its state
 * to itself. Kept under a registry symbol on `globalThis`, as `@opentelemetry/api` keeps its
 * globals; anything else found there is left alone, and this copy keeps sets of its own. What
 * is kept under this key never changes shape: a version that needs another takes a new key.
 */
const MARKS_KEY = Symbol.for('tracebus.marks.v1');

/** The marks every copy of tracebus shares: `traced` by {@link markTraced}, the others by the adapters that name them. */
interface SharedMarks {
  /** Objects and functions that tracebus returned from a wrapper: wrapping one again is a mistake. */
  readonly traced: WeakSet<object>;
  /** Traced amqplib channels handed to code tracebus did not write (amqp-connection-manager's `setup`). */
  readonly sharedChannels: WeakSet<object>;
  /** amqp-connection-manager ChannelWrappers traced already. */
  readonly channelWrappers: WeakSet<object>;
}

function isSharedMarks(value: unknown): value is SharedMarks {
  if (value === null || typeof value !== 'object') return false;
  const candidate = value as Record<string, unknown>;
  return candidate.traced instanceof WeakSet && candidate.sharedChannels instanceof WeakSet && candidate.channelWrappers instanceof WeakSet;
}

function installMarks(): SharedMarks {
  const own: SharedMarks = Object.freeze({ traced: new WeakSet<object>(), sharedChannels: new WeakSet<object>(), channelWrappers: new WeakSet<object>() });
  let found: unknown;
  try {
    found = (globalThis as unknown as Record<symbol, unknown>)[MARKS_KEY];
    if (isSharedMarks(found)) return found;
    // Not writable nor configurable: a later copy finds these sets, and cannot swap them.
    if (found === undefined) Object.defineProperty(globalThis, MARKS_KEY, { value: own, enumerable: false, writable: false, configurable: false });
  } catch {
    // A getter or proxy that throws, or a frozen global: as below.
    found ??= null;
  }
  if (found !== undefined) {
    diag.warn('tracebus: globalThis[Symbol.for("tracebus.marks.v1")] holds something else, or cannot be set; this copy of tracebus keeps to itself what it traced, so another copy in the process could trace a client or handler this one traced a second time');
  }
  return own;
}

/** The marks of every copy of tracebus in this process (see {@link MARKS_KEY}). */
export const marks: SharedMarks = installMarks();
const traced = marks.traced;

/** Marks `value` as returned by a tracebus wrapper; returns it. */
export function markTraced<T extends object>(value: T): T {
  traced.add(value);
  return value;
}

/** Whether `value` was returned by a tracebus wrapper. */
export function isTraced(value: unknown): boolean {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && traced.has(value);
}

/** Method names that tell a messaging client (or a bus) from an options object. */
const CLIENT_METHODS = ['send', 'sendBatch', 'run', 'publish', 'sendToQueue', 'consume', 'subscribe', 'connect'];

/**
 * The keys of an options type, each once: `optionKeys<MemoryHandlerOptions>({ policy: 1, … })`
 * does not compile while one is missing or misspelt, so the list stays the type's.
 */
export function optionKeys<T>(keys: { readonly [K in keyof Required<T>]: 1 }): readonly (keyof T & string)[] {
  return Object.keys(keys) as (keyof T & string)[];
}

/**
 * Checks the options given to `factory` (e.g. `traceProducer`): nothing, or a plain
 * object. A client, a handler or another value where the options belong throws, and so does
 * a key that looks like a misspelt one of `known` (`polciy`, `semConv`): it would do nothing.
 * Other keys are let be, so that one configuration object may serve the client and tracebus.
 * A client is told from options by its methods: those of the clients tracebus knows (`send`,
 * `publish`, `consume`, `run`, …), and `targetMethods`, the methods of the object the returned
 * function takes, for a transport tracebus does not know.
 *
 * @param target what the returned function takes, as the user names it (`producer`, `handler`).
 * @param known every option `factory` takes.
 * @param targetMethods methods whose presence makes a value the target rather than options (`['xadd', 'xread']`).
 */
export function checkOptions<O extends object>(options: O | undefined, factory: string, target: string, known?: readonly string[], targetMethods: readonly string[] = []): O {
  if (options === undefined) return {} as O;
  if (typeof options === 'function') {
    throw new TypeError(`tracebus: ${factory}(options) got a function where its options belong; write ${factory}(options)(${target}), or ${factory}()(${target}) without options`);
  }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`tracebus: ${factory}(options) takes an options object or nothing; got ${describe(options)}`);
  }
  const isMethod = (name: string) => typeof (options as Record<string, unknown>)[name] === 'function';
  if (CLIENT_METHODS.some(isMethod) || targetMethods.some(isMethod)) {
    throw new TypeError(`tracebus: ${factory}(options) got a ${target} where its options belong; write ${factory}(options)(${target}), or ${factory}()(${target}) without options`);
  }
  if (known !== undefined) {
    for (const key of Object.keys(options)) {
      // librdkafka's dotted keys (`group.id`, `client.id`) belong to a client configuration.
      if (known.includes(key) || key.includes('.')) continue;
      const meant = known.find((name) => looksMisspelt(key, name));
      if (meant !== undefined) throw new TypeError(`tracebus: ${factory}(options) has no option '${key}'; did you mean '${meant}'? Its options are ${known.join(', ')}`);
    }
  }
  return options;
}

/**
 * Whether `key` looks like `name` misspelt: the same but for letter case, or, for names of
 * five letters or more, one or two letters added, left out, changed or swapped.
 */
function looksMisspelt(key: string, name: string): boolean {
  const a = key.toLowerCase();
  const b = name.toLowerCase();
  if (a === b) return true;
  if (b.length < 5 || Math.abs(a.length - b.length) > 2) return false;
  // Optimal string alignment distance, with swaps of neighbours: at most 2.
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0]!.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]!.push(best);
    }
  }
  return rows[a.length]![b.length]! <= 2;
}

/**
 * Checks the object given to the function `factory(options)` returned: it must have
 * `methods`, and must not be traced already.
 *
 * @param what what it must be, with an example (`a kafkajs producer, e.g. kafka.producer()`).
 */
export function checkTarget(value: unknown, methods: readonly string[], factory: string, target: string, what: string): void {
  const isObject = value !== null && (typeof value === 'object' || typeof value === 'function');
  if (!isObject || methods.some((name) => typeof (value as Record<string, unknown>)[name] !== 'function')) {
    // Options given where the client belongs: a plain object, none of whose methods are there.
    const prototype = isObject ? Object.getPrototypeOf(value) : undefined;
    const options = isObject && typeof value === 'object' && (prototype === Object.prototype || prototype === null) && !methods.some((name) => typeof (value as Record<string, unknown>)[name] === 'function');
    const hint = options ? `; options go in the first call: ${factory}(options)(${target})` : '';
    throw new TypeError(`tracebus: ${factory}(options)(${target}) needs ${what}; got ${describe(value)}${hint}`);
  }
  if (traced.has(value as object)) {
    throw new TypeError(`tracebus: this ${target} is traced already; wrap the original ${target} once, with ${factory}(options)(${target})`);
  }
}

/** Checks a handler given to middleware: a function, not traced already. */
export function checkHandler(handler: unknown, factory: string, signature: string): void {
  if (typeof handler !== 'function') {
    const hint = handler !== null && typeof handler === 'object' ? `; options go in the first call: ${factory}(options)(handler)` : '';
    throw new TypeError(`tracebus: ${factory}(options)(handler) needs a handler function ${signature}; got ${describe(handler)}${hint}`);
  }
  if (traced.has(handler)) {
    throw new TypeError(`tracebus: this handler is traced already (it came from ${factory} or another tracebus middleware); trace the original handler once`);
  }
}

/** A value for an error message, its kind shown: `null`, `an array`, `an instance of Producer`, `string "q"`, `number Infinity`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'symbol') return 'a symbol';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    // A class instance by its class (`an instance of Producer`) says which client was given.
    let name: unknown;
    try {
      name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    } catch {
      name = undefined;
    }
    return typeof name === 'string' && name !== '' && name !== 'Object' ? `an instance of ${name}` : 'an object';
  }
  if (typeof value === 'function') return 'a function';
  // JSON would turn Infinity into null, and throw on a bigint.
  return `${typeof value} ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`;
}

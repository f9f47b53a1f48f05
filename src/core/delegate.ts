import { markTraced } from './checks.ts';

type Method = (...args: any[]) => unknown;

/**
 * An object that behaves like `raw` and has `overrides` as its own methods. Every other
 * method of `raw` (own or inherited, up to `Object.prototype`) is bound to `raw`, so
 * clients that keep state in closures (kafkajs) or in private class fields work alike;
 * other properties (`producer.events`) read from `raw`, live. Each keeps the
 * enumerability it has on `raw`. The wrapper is marked as traced, so it is not wrapped again.
 */
export function delegateTo<T extends object>(raw: T, overrides: Readonly<Record<string, Method>>): T {
  const wrapper = Object.create(raw) as Record<PropertyKey, unknown>;
  for (const [name, method] of Object.entries(overrides)) {
    Object.defineProperty(wrapper, name, { value: method, writable: true, configurable: true, enumerable: isEnumerable(raw, name) });
  }
  for (let source: object | null = raw; source !== null && source !== Object.prototype; source = Object.getPrototypeOf(source)) {
    for (const key of Reflect.ownKeys(source)) {
      if (key === 'constructor' || Object.hasOwn(wrapper, key)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(source, key)!;
      if (typeof descriptor.value === 'function') {
        Object.defineProperty(wrapper, key, { value: (descriptor.value as Method).bind(raw), writable: true, configurable: true, enumerable: descriptor.enumerable === true });
      } else {
        // Other properties read from (and write to) `raw` itself, live: `this` must be the
        // real object for accessors, and `{ ...wrapper }` should see what `{ ...raw }` sees.
        Object.defineProperty(wrapper, key, {
          get: () => (raw as Record<PropertyKey, unknown>)[key],
          set: descriptor.set === undefined && descriptor.writable !== true ? undefined : (value: unknown) => void ((raw as Record<PropertyKey, unknown>)[key] = value),
          configurable: true,
          enumerable: descriptor.enumerable === true,
        });
      }
    }
  }
  return markTraced(wrapper) as T;
}

function isEnumerable(object: object, key: string): boolean {
  for (let source: object | null = object; source !== null; source = Object.getPrototypeOf(source)) {
    const descriptor = Object.getOwnPropertyDescriptor(source, key);
    if (descriptor !== undefined) return descriptor.enumerable === true;
  }
  return false;
}

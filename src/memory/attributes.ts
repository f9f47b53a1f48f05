import type { Attributes } from '@opentelemetry/api';
import { ATTR_MESSAGING_MESSAGE_ID, consumerGroupAttributes } from '../core/semconv.ts';
import type { MemoryMessage, OutgoingMessage } from './bus.ts';

/** `messaging.system.name` of the in-process bus. */
export const MEMORY_SYSTEM = 'tracebus.memory';
/** Delivery attempt of a redelivered bus message (2 on the first redelivery); absent on the first delivery. */
export const ATTR_MEMORY_ATTEMPT = 'tracebus.memory.attempt';

/** Attributes of a `send` span beyond the core's: the message id, when the message has one. */
export function publishedAttributes(message: OutgoingMessage | undefined): Attributes | undefined {
  return message?.id === undefined ? undefined : { [ATTR_MESSAGING_MESSAGE_ID]: message.id };
}

/** Attributes of a `process` span beyond the core's and the group's: id, and attempt of a redelivery. */
export function consumedAttributes(message: MemoryMessage): Attributes {
  const attributes: Attributes = { [ATTR_MESSAGING_MESSAGE_ID]: message.id };
  if (message.redelivered) attributes[ATTR_MEMORY_ATTEMPT] = message.attempt;
  return attributes;
}

/** `messaging.consumer.group.name` for a sampler to see, unless the group is anonymous. */
export function groupAttributes(message: MemoryMessage): Attributes | undefined {
  const { group, topic } = message;
  // Never throws: a handler may be called with a message the bus did not make.
  if (typeof group !== 'string' || typeof topic !== 'string' || isAnonymousGroup(group, topic)) return undefined;
  return consumerGroupAttributes(group);
}

/**
 * Whether `group` is the bus's name for a subscription without a group: `<topic>#<n>`, a name
 * `subscribe()` refuses as a group's.
 */
export function isAnonymousGroup(group: string, topic: string): boolean {
  if (group.length <= topic.length + 1 || group.charCodeAt(topic.length) !== 0x23 || !group.startsWith(topic)) return false;
  for (let at = topic.length + 1; at < group.length; at++) {
    const code = group.charCodeAt(at);
    if (code < 0x30 || code > 0x39) return false;
  }
  return true;
}

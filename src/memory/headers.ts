import { copyWithoutContext } from '../core/headers.ts';
import type { OutgoingMessage } from './bus.ts';

// The bus's headers are plain objects of strings and byte arrays: the core's
// headerGetter and headerSetter read and write them as they are.

/**
 * `message` as the bus gets it while tracing is idle: trace headers it carried from
 * elsewhere dropped, as a traced publish would replace them; without headers, itself.
 */
export function withoutTraceHeaders<P>(message: OutgoingMessage<P>): OutgoingMessage<P> {
  return message?.headers == null ? message : withHeaders(message, copyWithoutContext(message.headers));
}

/**
 * A copy of `message` that carries `headers`, with the fields the bus reads taken wherever they
 * come from: a spread alone would leave out those a message inherits (a class's `payload` getter).
 */
export function withHeaders<P>(message: OutgoingMessage<P>, headers: OutgoingMessage['headers']): OutgoingMessage<P> {
  return { ...message, payload: message.payload, key: message.key, id: message.id, headers };
}

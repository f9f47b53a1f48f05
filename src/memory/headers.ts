import { copyWithoutContext } from '../core/headers.ts';
import type { OutgoingMessage } from './bus.ts';

// The bus's headers are plain objects of strings and byte arrays: the core's
// headerGetter and headerSetter read and write them as they are.

/**
 * `message` as the bus gets it while tracing is idle: trace headers it carried from
 * elsewhere dropped, as a traced publish would replace them; without headers, itself.
 */
export function withoutTraceHeaders<P>(message: OutgoingMessage<P>): OutgoingMessage<P> {
  return message?.headers == null ? message : { ...message, headers: copyWithoutContext(message.headers) };
}

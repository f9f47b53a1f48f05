import type { Attributes } from '@opentelemetry/api';

/**
 * Messaging semantic-convention names, copied from `@opentelemetry/semantic-conventions`
 * 1.45 rather than imported from its `/incubating` entry, which its README says not to
 * load at run time.
 */
export const ATTR_MESSAGING_SYSTEM = 'messaging.system.name';
export const ATTR_MESSAGING_OPERATION_NAME = 'messaging.operation.name';
export const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
export const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
export const ATTR_MESSAGING_DESTINATION_TEMPORARY = 'messaging.destination.temporary';
export const ATTR_MESSAGING_DESTINATION_TEMPLATE = 'messaging.destination.template';
export const ATTR_MESSAGING_DESTINATION_PARTITION_ID = 'messaging.destination.partition.id';
export const ATTR_MESSAGING_DESTINATION_SUBSCRIPTION_NAME = 'messaging.destination.subscription.name';
export const ATTR_MESSAGING_CONSUMER_GROUP_NAME = 'messaging.consumer.group.name';
export const ATTR_MESSAGING_MESSAGE_ID = 'messaging.message.id';
export const ATTR_MESSAGING_MESSAGE_CONVERSATION_ID = 'messaging.message.conversation_id';
export const ATTR_MESSAGING_MESSAGE_BODY_SIZE = 'messaging.message.body.size';
export const ATTR_MESSAGING_BATCH_MESSAGE_COUNT = 'messaging.batch.message_count';
export const ATTR_MESSAGING_CLIENT_ID = 'messaging.client.id';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_KAFKA_MESSAGE_KEY = 'kafka.message.key';
export const ATTR_KAFKA_OFFSET = 'kafka.offset';
export const ATTR_KAFKA_MESSAGE_TOMBSTONE = 'kafka.message.tombstone';
export const ATTR_KAFKA_CLUSTER_ID = 'kafka.cluster.id';
export const ATTR_RABBITMQ_ROUTING_KEY = 'rabbitmq.destination.routing_key';
export const ATTR_RABBITMQ_DELIVERY_TAG = 'rabbitmq.message.delivery_tag';

/** `messaging.operation.type` values. */
export const OPERATION_TYPE = {
  create: 'create',
  send: 'send',
  receive: 'receive',
  process: 'process',
  settle: 'settle',
} as const;
export type OperationType = (typeof OPERATION_TYPE)[keyof typeof OPERATION_TYPE];

/** Names that semconv 1.45 deprecated, with the 1.27–1.44 name each replaced. */
export const LEGACY_NAMES: Readonly<Record<string, string>> = {
  [ATTR_MESSAGING_SYSTEM]: 'messaging.system',
  [ATTR_KAFKA_MESSAGE_KEY]: 'messaging.kafka.message.key',
  [ATTR_KAFKA_OFFSET]: 'messaging.kafka.offset',
  [ATTR_KAFKA_MESSAGE_TOMBSTONE]: 'messaging.kafka.message.tombstone',
  [ATTR_KAFKA_CLUSTER_ID]: 'messaging.kafka.cluster.id',
  [ATTR_RABBITMQ_ROUTING_KEY]: 'messaging.rabbitmq.destination.routing_key',
  [ATTR_RABBITMQ_DELIVERY_TAG]: 'messaging.rabbitmq.message.delivery_tag',
};

/**
 * Which attribute names spans carry:
 * - `current`: semconv 1.45 names (`messaging.system.name`, `kafka.*`, `rabbitmq.*`);
 * - `legacy`: the names instrumentations used from semconv 1.27 to 1.44
 *   (`messaging.system`, `messaging.kafka.*`, `messaging.rabbitmq.*`);
 * - `both`: each of those attributes under both names, for a migration.
 */
export type SemconvMode = 'current' | 'legacy' | 'both';

/**
 * The mode named by `OTEL_SEMCONV_STABILITY_OPT_IN`, a comma-separated list whose order does
 * not matter: `messaging` asks for the current names, tracebus's own `messaging/legacy` for
 * the legacy ones, and `messaging/dup` for both. As semantic conventions have `messaging/dup`
 * win over `messaging`, the most inclusive request wins: spans carry every name some entry
 * asks for, so `messaging/dup`, or `messaging` together with `messaging/legacy`, selects
 * `both`; `messaging/legacy` alone `legacy`; anything else the default, `current`.
 */
export function semconvModeFromEnv(value: string | undefined = globalThis.process?.env?.OTEL_SEMCONV_STABILITY_OPT_IN): SemconvMode {
  if (!value) return 'current';
  let current = false;
  let legacy = false;
  for (const item of value.split(',')) {
    const entry = item.trim().toLowerCase();
    if (entry === 'messaging/dup') return 'both';
    if (entry === 'messaging') current = true;
    else if (entry === 'messaging/legacy') legacy = true;
  }
  if (!legacy) return 'current';
  return current ? 'both' : 'legacy';
}

/** `attributes` under the names `mode` selects (see {@link SemconvMode}); `current` returns them as they are. */
export function withSemconvNames(attributes: Attributes, mode: SemconvMode): Attributes {
  if (mode === 'current') return attributes;
  const renamed: Attributes = {};
  for (const name in attributes) {
    const legacy = LEGACY_NAMES[name];
    if (legacy === undefined) renamed[name] = attributes[name];
    else {
      renamed[legacy] = attributes[name];
      if (mode === 'both') renamed[name] = attributes[name];
    }
  }
  return renamed;
}

const groupAttributes = new Map<string, Attributes>();

/**
 * `{ 'messaging.consumer.group.name': group }`, the attribute a sampler sees on consumer
 * spans (OperationInfo.sampling); one frozen object per group, as a consumer's group stays
 * the same from message to message. `undefined` for no group.
 */
export function consumerGroupAttributes(group: string | undefined): Attributes | undefined {
  if (group === undefined) return undefined;
  let attributes = groupAttributes.get(group);
  if (attributes === undefined) {
    attributes = Object.freeze({ [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: group });
    // Applications have a handful of groups; one that makes them up per message is not cached.
    if (groupAttributes.size < 1_000) groupAttributes.set(group, attributes);
  }
  return attributes;
}

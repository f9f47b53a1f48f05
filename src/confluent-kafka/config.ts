import type { ConfiguredClient } from '../kafka/attributes.ts';

// Both clients of the KafkaJS API make librdkafka's configuration at `connect()`, from what
// `kafka.producer()` or `kafka.consumer()` was given: the `kafkaJS` block turned into
// librdkafka's keys (`brokers` into `bootstrap.servers`, `clientId` into `client.id`,
// `groupId` into `group.id`), and librdkafka's own keys given beside it, which win. The client
// has no public accessor for it: the internal client is read defensively, so a change there
// leaves spans without what it says rather than failing.

/**
 * The configuration of `client`'s librdkafka client: `null` before `connect()` made it,
 * `undefined` when it cannot be read (the internals changed).
 */
export function librdkafkaConfig(client: object): Record<string, unknown> | null | undefined {
  try {
    const read = (client as { _getInternalClient?: unknown })._getInternalClient;
    if (typeof read !== 'function') return undefined;
    const internal = read.call(client) as { globalConfig?: unknown } | null | undefined;
    if (internal === null || internal === undefined) return null;
    const config = internal.globalConfig;
    return config !== null && typeof config === 'object' ? (config as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A string setting of `config`, `undefined` for anything else (a getter that throws included). */
export function setting(config: Record<string, unknown>, key: string): string | undefined {
  try {
    const value = config[key];
    return typeof value === 'string' && value !== '' ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The bootstrap brokers and `client.id` of a configuration, for `server.*` and
 * `messaging.client.id`. `metadata.broker.list` is librdkafka's other name for `bootstrap.servers`.
 */
export function configuredClient(config: Record<string, unknown>): ConfiguredClient {
  return { brokers: setting(config, 'bootstrap.servers') ?? setting(config, 'metadata.broker.list'), clientId: setting(config, 'client.id') };
}

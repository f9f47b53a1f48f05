import type { Admin, ITopicConfig } from 'kafkajs';

/**
 * Creates a topic and waits until every partition has a leader: KRaft answers
 * UNKNOWN_TOPIC_OR_PARTITION before that, which kafkajs does not retry on subscribe.
 */
export async function createTopic(admin: Admin, topic: string, options: Omit<ITopicConfig, 'topic'> = {}): Promise<string> {
  const numPartitions = options.numPartitions ?? 1;
  await admin.createTopics({ topics: [{ ...options, topic, numPartitions }], waitForLeaders: false });
  for (let tries = 0; tries < 200; tries++) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = topics[0]?.partitions ?? [];
      if (partitions.length === numPartitions && partitions.every((partition) => partition.leader >= 0)) return topic;
    } catch {
      // not visible yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`topic ${topic} has no leader after 20 s`);
}

/** Resolves when `consumer` has joined its group, or rejects after `timeoutMs`. */
export function groupJoined(consumer: { on(event: string, listener: () => void): unknown; events: { GROUP_JOIN: string } }, timeoutMs = 30_000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no group join within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    consumer.on(consumer.events.GROUP_JOIN, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * `consumer.subscribe(subscription)`, tried again while a broker answers that it does not
 * know the topic yet. In a cluster the metadata of a new topic reaches the brokers one by
 * one, so the broker a consumer asks can lag the one that answered the admin, and kafkajs
 * does not retry UNKNOWN_TOPIC_OR_PARTITION on subscribe.
 */
export async function subscribeWhenKnown<S>(consumer: { subscribe(subscription: S): Promise<void> }, subscription: S, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await consumer.subscribe(subscription);
      return;
    } catch (error) {
      // kafkajs throws the broker's error as it is, or wrapped once (retries exhausted).
      const failure = error as { type?: unknown; cause?: { type?: unknown }; originalError?: { type?: unknown } } | null;
      const unknownTopic = [failure?.type, failure?.cause?.type, failure?.originalError?.type].includes('UNKNOWN_TOPIC_OR_PARTITION');
      if (!unknownTopic || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

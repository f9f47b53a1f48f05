import type { Admin } from 'kafkajs';

/**
 * Creates `topic` and waits until every partition has a leader. kafkajs retries only
 * LEADER_NOT_AVAILABLE, which a KRaft broker does not return for a topic it is still
 * creating, so `subscribe` right after `createTopics` can fail; polling the metadata avoids it.
 */
export async function ensureTopic(admin: Admin, topic: string, partitions = 1): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: false });
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const found = topics[0]?.partitions ?? [];
      if (found.length === partitions && found.every((partition) => partition.leader >= 0)) return;
    } catch {
      // not visible yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`topic ${topic} has no leader after 10 s`);
}

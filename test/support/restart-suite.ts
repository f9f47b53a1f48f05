import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { RabbitMQNode, type RabbitMQNodeOptions } from './rabbitmq-node.ts';

/**
 * The hooks of a broker-restart suite, called inside its `describe`: a RabbitMQ node of
 * its own, started once and removed at the end, and a span recorder per test.
 *
 * @example
 * const suite = restartSuite({ name: 'tracebus-faults@localhost', port: 5673 });
 * it('…', async () => { await suite.node().stop(); … suite.recorder().spans() … });
 */
export function restartSuite(options: RabbitMQNodeOptions): { node: () => RabbitMQNode; recorder: () => SpanRecorder } {
  let node: RabbitMQNode | undefined;
  let recorder: SpanRecorder | undefined;
  beforeAll(async () => {
    node = new RabbitMQNode(options);
    await node.start();
  }, 180_000);
  afterAll(async () => {
    await node?.destroy();
  }, 60_000);
  beforeEach(() => {
    recorder = recordSpans();
  });
  afterEach(async () => {
    await recorder?.shutdown();
  });
  return { node: () => node!, recorder: () => recorder! };
}

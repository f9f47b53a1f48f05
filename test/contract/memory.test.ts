import { MemoryBus, traceMemoryHandler, traceMemoryPublisher, type MemoryMessage } from '../../src/memory/index.ts';
import { contractSuite } from './suite.ts';
import type { ContractTransport } from './transport.ts';

contractSuite({
  name: 'in-process bus',
  features: { bufferHeaders: true, repeatedHeaders: true },
  async connect(): Promise<ContractTransport> {
    const bus = new MemoryBus({ maxAttempts: 5, deadLetterTopic: false });
    const publisher = traceMemoryPublisher()(bus);
    let counter = 0;
    return {
      destination: async (label) => `${label}.${++counter}`,
      publish: (topic, payload, headers) => publisher.publish(topic, { payload, headers }),
      publishRaw: (topic, payload, headers) => bus.publish(topic, { payload, headers }),
      async subscribe(topic, handler, options) {
        const subscription = bus.subscribe<string>(
          topic,
          traceMemoryHandler({ policy: options?.policy as never })((message: MemoryMessage<string>, trace) =>
            handler({ payload: message.payload, headers: message.headers, attempt: message.attempt }, trace),
          ),
        );
        return subscription;
      },
      close: () => bus.close(),
    };
  },
});

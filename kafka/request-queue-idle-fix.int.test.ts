/**
 * Against the stack's Kafka: a connected producer that has sent a message and then sits idle checks
 * its request queues only when something happens (kafkajs 2.2.4 unpatched: about a thousand times
 * a second per connection).
 */
import { createKafka } from './client';
import { kafkajsRequestQueue } from './request-queue-idle-fix';
import { testConfig, uniqueId } from '../test/support';

describe('an idle kafkajs connection', () => {
  it('does not spin on its request queue', async () => {
    const kafka = createKafka({ brokers: testConfig().KAFKA_BROKERS, clientId: uniqueId('idle-check') });
    const admin = kafka.admin();
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await admin.connect();
    await producer.connect();
    const topic = uniqueId('idle-check');
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
      await producer.send({ topic, acks: -1, messages: [{ value: 'x' }] });
      const proto = kafkajsRequestQueue().prototype;
      const original = Object.getOwnPropertyDescriptor(proto, 'checkPendingRequests')!.value as (this: typeof proto) => void;
      let checks = 0;
      proto.checkPendingRequests = function (this: typeof proto) {
        checks += 1;
        original.call(this);
      };
      try {
        await new Promise((r) => setTimeout(r, 1_000));
      } finally {
        proto.checkPendingRequests = original;
      }
      expect(checks).toBeLessThan(20);
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});

/**
 * The project's Kafka topics, defined once. The ledger topic is keyed by sellerId, so its
 * partition count bounds how many aggregator instances can consume in parallel.
 */
export const LEDGER_TOPIC_DEFAULT = 'ledger_entries_recorded_topic';

export const dlqTopicOf = (topic: string): string => `${topic}.DLQ`;

export type TopicSpec = { topic: string; numPartitions: number };

export function projectTopics(ledgerTopic: string = LEDGER_TOPIC_DEFAULT): TopicSpec[] {
  return [
    { topic: ledgerTopic, numPartitions: 12 },
    { topic: dlqTopicOf(ledgerTopic), numPartitions: 3 },
  ];
}

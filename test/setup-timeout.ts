// Integration tests wait on real services (workflows, retries, Kafka rebalances); every wait
// inside them is bounded by its own timeout, this is the outer limit per test.
jest.setTimeout(120_000);

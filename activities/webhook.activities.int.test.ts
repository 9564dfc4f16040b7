/**
 * The delivery round against the run's Postgres and a real receiver on 127.0.0.1, with windows
 * shortened through the activity's settings: a delivery past its retry window ends FAILED, and an
 * endpoint whose every attempt failed for longer than the disable window is DISABLED with a
 * reason (its pending deliveries FAILED), after which nothing more is sent to it.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { createDb, type DbHandle } from '../db/client';
import { merchantEvents, webhookDeliveries, webhookEndpoints } from '../db/schema';
import { testConfig, uniqueId } from '../test/support';
import { startWebhookReceiver, type WebhookReceiver } from '../test/webhook-receiver';
import { createWebhookSender } from '../webhooks/http-sender';
import { createWebhookActivities, type WebhookDeliverySettings } from './webhook.activities';

describe('webhook delivery round (retry window, disabling)', () => {
  let handle: DbHandle;
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    handle = createDb({ url: testConfig().DATABASE_URL, poolMax: 2, applicationName: 'webhook-activities-test' });
    receiver = await startWebhookReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await handle.pool.end();
  });

  const settings = (overrides: Partial<WebhookDeliverySettings>): WebhookDeliverySettings => ({ concurrency: 4, backoff: { baseMs: 10, capMs: 20 }, retryWindowMs: 3_600_000, disableAfterMs: 3_600_000, claimLeaseMs: 60_000, ...overrides });
  /** An endpoint with `count` pending deliveries, the events already dispatched (the run's relay leaves them alone). */
  const seed = async (path: string, count: number) => {
    const sellerId = uniqueId('whact');
    const endpointId = randomUUID();
    await handle.db.insert(webhookEndpoints).values({ id: endpointId, sellerId, url: receiver.url(path), events: ['refund.failed'], secret: 'whsec_test', status: 'ENABLED' });
    const deliveryIds: string[] = [];
    for (let i = 0; i < count; i++) {
      const eventId = `evt_${randomUUID().replace(/-/g, '')}`;
      await handle.db.insert(merchantEvents).values({ id: eventId, type: 'refund.failed', sellerId, subjectId: randomUUID(), data: { i }, dispatchedAt: new Date() });
      const id = randomUUID();
      await handle.db.insert(webhookDeliveries).values({ id, endpointId, eventId, status: 'PENDING' });
      deliveryIds.push(id);
    }
    return { endpointId, deliveryIds };
  };
  const send = createWebhookSender({ policy: 'development', timeoutMs: 2_000, responseMaxBytes: 256 });

  test('a failed attempt after the retry window ends the delivery FAILED', async () => {
    const { endpointId, deliveryIds } = await seed('/window', 1);
    receiver.script('/window', [503]);
    const activities = createWebhookActivities({ db: handle.db, send, settings: settings({ retryWindowMs: 0 }) });
    expect(await activities.deliverDueWebhooks({ endpointId, limit: 10 })).toEqual({ endpoint: 'enabled', attempted: 1, delivered: 0, nextDueInMs: null });
    const [row] = await handle.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, deliveryIds[0]!));
    expect(row).toMatchObject({ status: 'FAILED', attempts: 1, lastStatusCode: 503, lastError: 'HTTP 503' });
  });

  test('an endpoint failing longer than the disable window is DISABLED with a reason; its pending deliveries FAILED; nothing more is sent', async () => {
    const { endpointId, deliveryIds } = await seed('/down', 3);
    receiver.script('/down', [500, 500, 500, 500, 500, 500]);
    const activities = createWebhookActivities({ db: handle.db, send, settings: settings({ disableAfterMs: 50 }) });
    // First failing round: failing_since is set, not yet disabled.
    expect(await activities.deliverDueWebhooks({ endpointId, limit: 1 })).toMatchObject({ endpoint: 'enabled', attempted: 1, delivered: 0 });
    const [failing] = await handle.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, endpointId));
    expect(failing!.failingSince).toBeInstanceOf(Date);
    await new Promise((r) => setTimeout(r, 100));
    expect(await activities.deliverDueWebhooks({ endpointId, limit: 1 })).toEqual({ endpoint: 'disabled' });
    const [endpoint] = await handle.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, endpointId));
    expect(endpoint).toMatchObject({ status: 'DISABLED', disabledReason: expect.stringContaining('HTTP 500') });
    const rows = await handle.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, endpointId));
    expect(rows.map((r) => r.status)).toEqual(['FAILED', 'FAILED', 'FAILED']);
    expect(rows.map((r) => r.lastError)).toEqual(deliveryIds.map(() => 'endpoint disabled'));
    const sent = receiver.on('/down').length;
    expect(await activities.deliverDueWebhooks({ endpointId, limit: 10 })).toEqual({ endpoint: 'disabled' });
    expect(receiver.on('/down').length).toBe(sent);
  });

  test('a success clears failing_since', async () => {
    const { endpointId } = await seed('/recovers', 2);
    receiver.script('/recovers', [500]);
    const activities = createWebhookActivities({ db: handle.db, send, settings: settings({}) });
    await activities.deliverDueWebhooks({ endpointId, limit: 1 });
    expect((await handle.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, endpointId)))[0]!.failingSince).not.toBeNull();
    await activities.deliverDueWebhooks({ endpointId, limit: 10 });
    expect((await handle.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, endpointId)))[0]!.failingSince).toBeNull();
  });
});

/**
 * The Grafana dashboard and the Prometheus scrape config match what the code really emits: every
 * metric a panel queries is present in a live scrape of the run's API, worker (its own and the
 * Temporal SDK's endpoint) and aggregator, after real traffic.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, testConfig, testEnv, token, waitFor } from './support';

type Dashboard = { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };

const metricNamesIn = (expr: string): string[] => expr.match(/\b(?:payorch|aggregator|temporal|process|nodejs)_[a-z0-9_]+/g) ?? [];
const sampleNames = (text: string): Set<string> =>
  new Set(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]!));

describe('dashboards and scrape config', () => {
  test('every panel queries a metric that a live process exposes', async () => {
    const config = testConfig();
    // Real traffic first, so counters and histograms have samples.
    const sellerId = `dash-${randomUUID().slice(0, 8)}`;
    const res = await fetch(`${testEnv().apiBaseUrl}/api/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token()}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({ buyerId: 'b', orderId: randomUUID(), totalAmount: { quantity: 500, currency: 'EUR' }, paymentOrders: [{ sellerId, amount: { quantity: 500, currency: 'EUR' } }] }),
    });
    expect(res.status).toBe(202);
    await waitFor('the balance to show the capture', async () => {
      const b = (await (await fetch(`${testEnv().apiBaseUrl}/api/v1/sellers/${sellerId}/balance`, { headers: { authorization: `Bearer ${await token()}` } })).json()) as { balances: unknown[] };
      return b.balances.length > 0;
    });

    const endpoints = {
      api: `${testEnv().apiBaseUrl}/metrics`,
      worker: `http://127.0.0.1:${config.WORKER_METRICS_PORT}/metrics`,
      'worker-temporal-sdk': `http://127.0.0.1:${config.WORKER_SDK_METRICS_PORT}/metrics`,
      aggregator: `http://127.0.0.1:${config.AGGREGATOR_METRICS_PORT}/metrics`,
    };
    const exposed = new Set<string>();
    for (const url of Object.values(endpoints)) for (const name of sampleNames(await (await fetch(url)).text())) exposed.add(name);

    const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'observability/grafana/payorch-overview.dashboard.json'), 'utf8')) as Dashboard;
    const wanted = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricNamesIn(t.expr).map((name) => ({ panel: p.title, name }))));
    expect(wanted.length).toBeGreaterThan(10);
    expect(wanted.filter((w) => !exposed.has(w.name))).toEqual([]);

    // The scrape config names a job for each of those endpoints.
    const scrape = readFileSync(path.join(ROOT, 'observability/prometheus.yml'), 'utf8');
    for (const job of Object.keys(endpoints)) expect(scrape).toContain(`job_name: ${job}`);
  });
});

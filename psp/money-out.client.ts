/**
 * HTTP client of the PSP's money-out side (psp/money-out.ts): the settlement report and the payout
 * rail. Outcomes are named: a payout is `paid`, `failed` (a definitive answer) or `returned`; an
 * outage (connection error, timeout, 5xx) throws `PspUnavailableError`, which activities retry.
 * Payouts carry an idempotency key, so a retried call after an unknown outcome pays at most once.
 */
import { z } from 'zod';
import { PspUnavailableError } from './psp.port';

const itemSchema = z.object({
  itemId: z.string().min(1).max(256),
  kind: z.enum(['CAPTURE', 'REFUND']),
  captureId: z.string().min(1).max(256),
  refundId: z.string().min(1).max(256).optional(),
  reference: z.string().max(256),
  direction: z.enum(['CREDIT', 'DEBIT']),
  grossMinor: z.string().regex(/^[1-9][0-9]{0,18}$/),
  feeMinor: z.string().regex(/^(0|[1-9][0-9]{0,18})$/),
  netMinor: z.string().regex(/^(0|[1-9][0-9]{0,18})$/),
  currency: z.string().regex(/^[A-Z]{3}$/),
  settledAt: z.string(),
});
const reportSchema = z.object({
  date: z.string(),
  items: z.array(itemSchema).max(1_000_000),
  totals: z.array(z.object({ currency: z.string(), grossMinor: z.string(), feeMinor: z.string(), netMinor: z.string(), count: z.number() })),
});
export type SettlementReportDto = z.infer<typeof reportSchema>;
export type SettlementItemDto = z.infer<typeof itemSchema>;

const payoutSchema = z.object({ payoutId: z.string(), status: z.enum(['PAID', 'FAILED', 'RETURNED']), code: z.string().optional(), paidAt: z.string().nullable().optional(), returnedAt: z.string().optional() });
export type RailPayout = z.infer<typeof payoutSchema>;
export type PayoutOutcome = { kind: 'paid' | 'failed' | 'returned'; railPayoutId: string; code?: string } | { kind: 'not-found' };

export type MoneyOutClient = {
  settlementReport: (date: string) => Promise<SettlementReportDto>;
  createPayout: (request: { idempotencyKey: string; sellerId: string; amountMinor: bigint; currency: string; reference: string }) => Promise<PayoutOutcome>;
  lookupPayout: (idempotencyKey: string) => Promise<PayoutOutcome>;
};

const outcomeOf = (p: RailPayout): PayoutOutcome => ({ kind: p.status === 'PAID' ? 'paid' : p.status === 'FAILED' ? 'failed' : 'returned', railPayoutId: p.payoutId, ...(p.code ? { code: p.code } : {}) });

export function createMoneyOutClient(options: { baseUrl: string; timeoutMs: number }): MoneyOutClient {
  async function call(path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
    let res: Response;
    try {
      res = await fetch(`${options.baseUrl}${path}`, { ...init, signal: AbortSignal.timeout(options.timeoutMs) });
    } catch (err) {
      throw new PspUnavailableError(`PSP unreachable: ${(err as Error).message}`, 'PSP_UNREACHABLE');
    }
    if (res.status >= 500) throw new PspUnavailableError(`PSP answered ${res.status}`, 'PSP_UNAVAILABLE');
    return { status: res.status, body: await res.json().catch(() => null) };
  }
  return {
    async settlementReport(date) {
      const { status, body } = await call(`/v1/settlements/${encodeURIComponent(date)}`);
      if (status !== 200) throw new Error(`settlement report ${date}: PSP answered ${status}`);
      return reportSchema.parse(body);
    },
    async createPayout(request) {
      const { status, body } = await call('/v1/payouts', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': request.idempotencyKey },
        body: JSON.stringify({ sellerId: request.sellerId, amountMinor: request.amountMinor.toString(), currency: request.currency, reference: request.reference }),
      });
      if (status === 200 || status === 422) {
        const parsed = payoutSchema.safeParse(body);
        if (parsed.success) return outcomeOf(parsed.data);
      }
      throw new Error(`payout ${request.reference}: PSP answered ${status} ${JSON.stringify(body).slice(0, 200)}`);
    },
    async lookupPayout(idempotencyKey) {
      const { status, body } = await call(`/v1/payouts/lookup?idempotencyKey=${encodeURIComponent(idempotencyKey)}`);
      if (status === 404) return { kind: 'not-found' };
      return outcomeOf(payoutSchema.parse(body));
    },
  };
}

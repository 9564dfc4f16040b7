/**
 * The simulator's money-out side: the daily settlement report and the payout rail.
 *
 * Settlement report (`GET /v1/settlements/{YYYY-MM-DD}`): every capture and refund whose settlement
 * time (`at + settlementLagS`, default one day: "captures settle the next day") falls on that UTC
 * day and has passed, with gross, fee and net per item and totals. Fee model per capture:
 * `floor(gross · feeBps / 10000) + feeFixedMinor` (default 1.4 % + 25), capped at the gross; a
 * refund carries no fee (the PSP keeps the capture's). A refund's gross and net are what leaves the
 * merchant's account (`direction: "DEBIT"`). Item ids are stable (`stl_{captureId}` /
 * `stl_{refundId}`), so the same report asked twice is the same report.
 *
 * Faults for reconciliation (`PUT /v1/settlements/faults`): `{ drop: [reference…], alter:
 * { reference: grossMinor }, alterFee: { reference: feeMinor } }` leaves an item out, reports another
 * gross or charges another fee for it (the reference is
 * the capture's or refund's `reference`: our paymentOrderId or refundId).
 *
 * Payout rail: `POST /v1/payouts` (Idempotency-Key; `{ sellerId, amountMinor, currency, reference }`)
 * answers `PAID` (with `payoutId`), or `FAILED` for a seller id starting `seller-payout-fail`; a payout
 * to `seller-payout-return*` is paid and then `RETURNED` after `payoutReturnDelayS`. `GET
 * /v1/payouts/{payoutId}` and `GET /v1/payouts/lookup?idempotencyKey=` give the status; `GET
 * /v1/payouts/log` is every payout the rail made, for comparisons (double payouts).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type express from 'express';
import type { Request, Response } from 'express';
import type { CaptureLogEntry, RefundLogEntry } from './simulator';

export type MoneyOutOptions = {
  /** Seconds from a capture or refund to its settlement (default 86 400: the next day). */
  settlementLagS?: number;
  feeBps?: number;
  feeFixedMinor?: bigint;
  /** Seconds from a `seller-payout-return*` payout to its return (default 86 400). */
  payoutReturnDelayS?: number;
  stateFile?: string;
  now?: () => number;
};

export type SettlementItem = {
  itemId: string;
  kind: 'CAPTURE' | 'REFUND';
  /** The capture's id (for a refund: the refunded capture). */
  captureId: string;
  refundId?: string;
  reference: string;
  direction: 'CREDIT' | 'DEBIT';
  grossMinor: string;
  feeMinor: string;
  netMinor: string;
  currency: string;
  settledAt: string;
};

export type SettlementReport = {
  date: string;
  items: SettlementItem[];
  totals: Array<{ currency: string; grossMinor: string; feeMinor: string; netMinor: string; count: number }>;
};

export const PAYOUT_RAIL_STATUSES = ['PAID', 'FAILED', 'RETURNED'] as const;
export type PayoutRailStatus = (typeof PAYOUT_RAIL_STATUSES)[number];

export type PayoutLogEntry = {
  payoutId: string;
  idempotencyKey: string;
  sellerId: string;
  reference: string;
  amountMinor: string;
  currency: string;
  status: 'PAID' | 'FAILED';
  at: string;
  /** When it is (or will be) returned, for `seller-payout-return*`. */
  returnsAt?: string;
};

export type SettlementFaults = { drop: string[]; alter: Record<string, string>; alterFee?: Record<string, string> };

/** `floor(gross · bps / 10000) + fixed`, never more than the gross. */
export function settlementFeeMinor(grossMinor: bigint, feeBps: number, feeFixedMinor: bigint): bigint {
  const fee = (grossMinor * BigInt(feeBps)) / 10_000n + feeFixedMinor;
  return fee > grossMinor ? grossMinor : fee;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function mountMoneyOut(
  app: express.Express,
  sources: { captureLog: () => CaptureLogEntry[]; refundLog: () => RefundLogEntry[] },
  options: MoneyOutOptions = {},
): { payoutLog: () => PayoutLogEntry[]; settlementReport: (date: string) => SettlementReport; setFaults: (f: SettlementFaults) => void } {
  const lagMs = (options.settlementLagS ?? 86_400) * 1_000;
  const feeBps = options.feeBps ?? 140;
  const feeFixed = options.feeFixedMinor ?? 25n;
  const returnDelayMs = (options.payoutReturnDelayS ?? 86_400) * 1_000;
  const now = options.now ?? Date.now;
  let faults: SettlementFaults = { drop: [], alter: {} };
  const payouts: PayoutLogEntry[] = [];
  const payoutsByKey = new Map<string, { requestHash: string; entry: PayoutLogEntry }>();
  const payoutsById = new Map<string, PayoutLogEntry>();

  const applyPayout = (requestHash: string, entry: PayoutLogEntry) => {
    payouts.push(entry);
    payoutsByKey.set(entry.idempotencyKey, { requestHash, entry });
    payoutsById.set(entry.payoutId, entry);
  };
  if (options.stateFile) {
    // Payout events share the simulator's JSONL state file (lines of other kinds are skipped).
    if (existsSync(options.stateFile)) {
      for (const line of readFileSync(options.stateFile, 'utf8').split('\n')) {
        if (!line.startsWith('{"t":"payout"')) continue;
        const e = JSON.parse(line) as { t: 'payout'; requestHash: string; entry: PayoutLogEntry };
        applyPayout(e.requestHash, e.entry);
      }
    }
  }

  function settlementReport(date: string): SettlementReport {
    const items: SettlementItem[] = [];
    const cutoff = now();
    const settles = (at: string) => {
      const t = Date.parse(at) + lagMs;
      return t <= cutoff && dayOf(t) === date ? new Date(t).toISOString() : undefined;
    };
    const grossOf = (reference: string, amount: string) => BigInt(faults.alter[reference] ?? amount);
    for (const c of sources.captureLog()) {
      const settledAt = settles(c.at);
      if (!settledAt || faults.drop.includes(c.reference)) continue;
      const gross = grossOf(c.reference, c.amountMinor);
      const fee = faults.alterFee?.[c.reference] !== undefined ? BigInt(faults.alterFee[c.reference]!) : settlementFeeMinor(gross, feeBps, feeFixed);
      items.push({ itemId: `stl_${c.captureId}`, kind: 'CAPTURE', captureId: c.captureId, reference: c.reference, direction: 'CREDIT', grossMinor: gross.toString(), feeMinor: fee.toString(), netMinor: (gross - fee).toString(), currency: c.currency, settledAt });
    }
    for (const r of sources.refundLog()) {
      const settledAt = settles(r.at);
      if (!settledAt || faults.drop.includes(r.reference)) continue;
      const gross = grossOf(r.reference, r.amountMinor);
      items.push({ itemId: `stl_${r.refundId}`, kind: 'REFUND', captureId: r.captureId, refundId: r.refundId, reference: r.reference, direction: 'DEBIT', grossMinor: gross.toString(), feeMinor: '0', netMinor: gross.toString(), currency: r.currency, settledAt });
    }
    const totals = new Map<string, { gross: bigint; fee: bigint; net: bigint; count: number }>();
    for (const item of items) {
      const sign = item.direction === 'CREDIT' ? 1n : -1n;
      const t = totals.get(item.currency) ?? { gross: 0n, fee: 0n, net: 0n, count: 0 };
      t.gross += sign * BigInt(item.grossMinor);
      t.fee += BigInt(item.feeMinor);
      t.net += sign * BigInt(item.netMinor);
      t.count += 1;
      totals.set(item.currency, t);
    }
    return {
      date,
      items,
      totals: [...totals].map(([currency, t]) => ({ currency, grossMinor: t.gross.toString(), feeMinor: t.fee.toString(), netMinor: t.net.toString(), count: t.count })),
    };
  }

  const statusOf = (entry: PayoutLogEntry): PayoutRailStatus => (entry.status === 'PAID' && entry.returnsAt && Date.parse(entry.returnsAt) <= now() ? 'RETURNED' : entry.status);
  const view = (entry: PayoutLogEntry) => ({ payoutId: entry.payoutId, status: statusOf(entry), sellerId: entry.sellerId, reference: entry.reference, amountMinor: entry.amountMinor, currency: entry.currency, paidAt: entry.status === 'PAID' ? entry.at : null, ...(statusOf(entry) === 'RETURNED' ? { returnedAt: entry.returnsAt } : {}), ...(entry.status === 'FAILED' ? { code: 'BENEFICIARY_ACCOUNT_INVALID' } : {}) });

  app.get('/v1/settlements/:date', (req: Request<{ date: string }>, res: Response) => {
    if (!DATE.test(req.params.date) || Number.isNaN(Date.parse(`${req.params.date}T00:00:00Z`))) {
      res.status(400).json({ code: 'INVALID_REQUEST', message: 'date must be YYYY-MM-DD' });
      return;
    }
    res.json(settlementReport(req.params.date));
  });
  app.put('/v1/settlements/faults', (req, res) => {
    const body = req.body as Partial<SettlementFaults> | undefined;
    const drop = Array.isArray(body?.drop) ? body.drop.filter((v): v is string => typeof v === 'string') : [];
    const alter: Record<string, string> = {};
    for (const [k, v] of Object.entries(body?.alter ?? {})) {
      if (typeof v !== 'string' || !/^[1-9][0-9]{0,18}$/.test(v)) {
        res.status(400).json({ code: 'INVALID_REQUEST', message: 'alter values are positive decimal strings' });
        return;
      }
      alter[k] = v;
    }
    const alterFee: Record<string, string> = {};
    for (const [k, v] of Object.entries(body?.alterFee ?? {})) {
      if (typeof v !== 'string' || !/^(0|[1-9][0-9]{0,18})$/.test(v)) {
        res.status(400).json({ code: 'INVALID_REQUEST', message: 'alterFee values are decimal strings' });
        return;
      }
      alterFee[k] = v;
    }
    faults = { drop, alter, alterFee };
    res.json(faults);
  });

  app.post('/v1/payouts', (req, res) => {
    const key = req.header('idempotency-key');
    if (!key || key.length > 255) {
      res.status(400).json({ code: 'IDEMPOTENCY_KEY_REQUIRED', message: 'Idempotency-Key header is required' });
      return;
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const requestHash = JSON.stringify([body.sellerId, body.amountMinor, body.currency, body.reference]);
    const stored = payoutsByKey.get(key);
    if (stored) {
      if (stored.requestHash !== requestHash) res.status(422).json({ code: 'IDEMPOTENCY_KEY_REUSED', message: 'key reused with a different request' });
      else res.status(stored.entry.status === 'PAID' ? 200 : 422).json(view(stored.entry));
      return;
    }
    const { sellerId, amountMinor, currency, reference } = body;
    if (typeof sellerId !== 'string' || sellerId === '' || typeof amountMinor !== 'string' || !/^[1-9][0-9]{0,18}$/.test(amountMinor) || typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency) || typeof reference !== 'string') {
      res.status(400).json({ code: 'INVALID_REQUEST', message: 'sellerId, amountMinor, currency and reference are required' });
      return;
    }
    const at = now();
    const failed = sellerId.startsWith('seller-payout-fail');
    const entry: PayoutLogEntry = {
      payoutId: `po_${randomUUID()}`,
      idempotencyKey: key,
      sellerId,
      reference,
      amountMinor,
      currency,
      status: failed ? 'FAILED' : 'PAID',
      at: new Date(at).toISOString(),
      ...(sellerId.startsWith('seller-payout-return') ? { returnsAt: new Date(at + returnDelayMs).toISOString() } : {}),
    };
    applyPayout(requestHash, entry);
    if (options.stateFile) appendFileSync(options.stateFile, `${JSON.stringify({ t: 'payout', requestHash, entry })}\n`);
    res.status(failed ? 422 : 200).json(view(entry));
  });
  app.get('/v1/payouts/log', (req, res) => {
    const sellerId = typeof req.query.sellerId === 'string' ? req.query.sellerId : undefined;
    res.json({ payouts: (sellerId ? payouts.filter((p) => p.sellerId === sellerId) : payouts).map((p) => ({ ...p, status: statusOf(p) })) });
  });
  app.get('/v1/payouts/lookup', (req, res) => {
    const key = typeof req.query.idempotencyKey === 'string' ? req.query.idempotencyKey : undefined;
    const stored = key ? payoutsByKey.get(key) : undefined;
    if (!stored) {
      res.status(404).json({ status: 'NOT_FOUND', code: 'NOT_FOUND', message: 'no payout under this key' });
      return;
    }
    res.json(view(stored.entry));
  });
  app.get('/v1/payouts/:payoutId', (req: Request<{ payoutId: string }>, res: Response) => {
    const entry = payoutsById.get(req.params.payoutId);
    if (!entry) {
      res.status(404).json({ status: 'NOT_FOUND', code: 'NOT_FOUND', message: 'no such payout' });
      return;
    }
    res.json(view(entry));
  });

  return { payoutLog: () => payouts.map((p) => ({ ...p })), settlementReport, setFaults: (f) => (faults = f) };
}

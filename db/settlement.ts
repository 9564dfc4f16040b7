/**
 * Settlement import and reconciliation against Postgres.
 *
 * `importSettlementReport` takes one day of the PSP's report in one transaction: every item is
 * stored once (keyed by the PSP's item id, so importing a day twice adds nothing), matched with
 * our capture (by `psp_capture_id`) or refund (by `psp_refund_id`), and
 * - matched and equal in amount: a SETTLEMENT ledger fact (journaled by the seller's ledger
 *   stream) and the order or refund is marked settled;
 * - unknown to us, with another gross than ours, or (a capture) with another fee than the
 *   contracted fee model: a reconciliation mismatch, and no entry -
 *   nothing moves money automatically on a mismatch; an operator decides (an ADJUSTMENT).
 * `detectUnsettled` records captures and refunds the PSP has not settled within the allowed time.
 */
import { randomUUID } from 'node:crypto';
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { MismatchKind } from '../domain/money-out';
import { merchantPayable } from '../ledger/accounts';
import type { SettlementReportDto } from '../psp/money-out.client';
import type { Database } from './client';
import { insertLedgerFacts, type Executor } from './ledger-facts';
import { ledgerAdjustments, paymentOrders, payoutAccounts, reconciliationMismatches, refunds, settlementImports, settlementItems } from './schema';

export type ImportResult = { date: string; items: number; newItems: number; settled: number; mismatches: number; sellers: string[] };

async function recordMismatch(tx: Executor, m: { kind: MismatchKind; subjectId: string; reportDate: string | null; sellerId: string | null; details: Record<string, unknown> }): Promise<boolean> {
  const rows = await tx.insert(reconciliationMismatches).values(m).onConflictDoNothing({ target: [reconciliationMismatches.kind, reconciliationMismatches.subjectId] }).returning({ id: reconciliationMismatches.id });
  return rows.length > 0;
}

/** The PSP's contracted fee model: a settled capture whose fee differs is a `fee-mismatch`. */
export type FeeModel = { feeBps: number; feeFixedMinor: bigint };

/** Items of a report imported per transaction: bounded statements (parameters, SQL size) for a day of any size. */
export const SETTLEMENT_IMPORT_CHUNK = 500;

/**
 * Imports a day's report, `SETTLEMENT_IMPORT_CHUNK` items per transaction. Each chunk records its
 * items and what they mean (SETTLEMENT facts, settled marks, mismatches) together, so an import
 * cut off between chunks is finished by the next one: items already recorded are skipped.
 */
export async function importSettlementReport(db: Database, report: SettlementReportDto, feeModel?: FeeModel): Promise<ImportResult> {
  await db
    .insert(settlementImports)
    .values({ reportDate: report.date, itemCount: report.items.length, totals: report.totals })
    .onConflictDoUpdate({ target: settlementImports.reportDate, set: { itemCount: report.items.length, totals: report.totals, lastImportedAt: sql`now()` } });
  const result: ImportResult = { date: report.date, items: report.items.length, newItems: 0, settled: 0, mismatches: 0, sellers: [] };
  const sellers = new Set<string>();
  for (let i = 0; i < report.items.length; i += SETTLEMENT_IMPORT_CHUNK) {
    const chunk = await importSettlementItems(db, report.date, report.items.slice(i, i + SETTLEMENT_IMPORT_CHUNK), feeModel);
    result.newItems += chunk.newItems;
    result.settled += chunk.settled;
    result.mismatches += chunk.mismatches;
    for (const s of chunk.sellers) sellers.add(s);
  }
  result.sellers = [...sellers];
  return result;
}

/** A report item as settleItem needs it (from the report or from `settlement_items`). */
type SettleableItem = { itemId: string; reportDate: string; kind: 'CAPTURE' | 'REFUND'; captureId: string; refundId?: string | undefined; grossMinor: string; feeMinor: string; currency: string };

/**
 * What a settled item means, in the caller's transaction: its SETTLEMENT fact (at the PSP's gross
 * and fee; journaled by the seller's ledger), the order or refund marked settled, a
 * `captured-not-settled` mismatch of it resolved, and the seller's payout account.
 */
async function settleItem(tx: Executor, item: SettleableItem, ours: { sellerId: string; currency: string; paymentOrderId: string | null; refundId: string | null }): Promise<void> {
  await insertLedgerFacts(tx, [
    {
      entryType: 'SETTLEMENT',
      paymentOrderId: null,
      paymentId: null,
      sellerId: ours.sellerId,
      amountMinor: item.grossMinor,
      currency: item.currency,
      commissionBps: 0,
      metadata: { reportDate: item.reportDate, kind: item.kind, pspCaptureId: item.captureId, ...(item.refundId ? { pspRefundId: item.refundId } : {}) },
      subject: { subjectId: item.itemId, feeMinor: item.feeMinor, direction: item.kind === 'CAPTURE' ? 'CREDIT' : 'DEBIT' },
    },
  ]);
  if (ours.refundId) await tx.update(refunds).set({ settledAt: sql`now()` }).where(and(eq(refunds.id, ours.refundId), isNull(refunds.settledAt)));
  else if (ours.paymentOrderId) await tx.update(paymentOrders).set({ settledAt: sql`now()` }).where(and(eq(paymentOrders.id, ours.paymentOrderId), isNull(paymentOrders.settledAt)));
  // What was reported as never settled is settled now.
  await tx
    .update(reconciliationMismatches)
    .set({ resolvedAt: sql`now()`, resolution: `settled in the report of ${item.reportDate}` })
    .where(and(eq(reconciliationMismatches.kind, 'captured-not-settled'), eq(reconciliationMismatches.subjectId, (ours.refundId ?? ours.paymentOrderId)!), isNull(reconciliationMismatches.resolvedAt)));
  await tx.insert(payoutAccounts).values({ sellerId: ours.sellerId, currency: ours.currency }).onConflictDoNothing();
}

type OrderRow = typeof paymentOrders.$inferSelect;
type RefundRow = typeof refunds.$inferSelect;
type ItemDecision = { outcome: 'settled'; sellerId: string } | { outcome: MismatchKind; recorded: boolean };

/**
 * One item against what we hold (the order its capture id names, or the refund its refund id
 * names): settled when it is ours with our gross, currency and (a capture) the contracted fee;
 * otherwise a mismatch is recorded and nothing is posted.
 */
async function decideItem(tx: Executor, item: SettleableItem & Record<string, unknown>, order: OrderRow | undefined, refund: RefundRow | undefined, feeModel?: FeeModel): Promise<ItemDecision> {
  const ours = order ? { amountMinor: order.amountMinor, currency: order.currency, sellerId: order.sellerId } : refund && refund.status === 'REFUNDED' ? { amountMinor: refund.amountMinor, currency: refund.currency, sellerId: refund.sellerId } : undefined;
  const gross = BigInt(item.grossMinor);
  const mismatch = async (kind: MismatchKind, sellerId: string | null, details: Record<string, unknown>): Promise<ItemDecision> => ({ outcome: kind, recorded: await recordMismatch(tx, { kind, subjectId: item.itemId, reportDate: item.reportDate, sellerId, details }) });
  if (!ours) return mismatch('settled-unknown', null, { ...item });
  // A second item for a capture or refund another item already settled (a PSP correction, a
  // re-issued item): never settled twice - the operator decides.
  const settledAt = refund && item.kind === 'REFUND' ? refund.settledAt : order?.settledAt;
  if (settledAt) return mismatch('duplicate-settlement', ours.sellerId, { ...item, paymentOrderId: order?.id ?? refund?.paymentOrderId, refundId: refund?.id ?? null, settledAt: settledAt.toISOString() });
  if (ours.amountMinor !== gross || ours.currency !== item.currency) {
    return mismatch('amount-mismatch', ours.sellerId, { ...item, oursMinor: ours.amountMinor.toString(), oursCurrency: ours.currency, paymentOrderId: order?.id ?? refund?.paymentOrderId, refundId: refund?.id ?? null });
  }
  if (feeModel && item.kind === 'CAPTURE') {
    const contracted = (gross * BigInt(feeModel.feeBps)) / 10_000n + feeModel.feeFixedMinor;
    const expectedFee = contracted > gross ? gross : contracted;
    if (BigInt(item.feeMinor) !== expectedFee) return mismatch('fee-mismatch', ours.sellerId, { ...item, expectedFeeMinor: expectedFee.toString(), paymentOrderId: order?.id });
  }
  await settleItem(tx, item, { sellerId: ours.sellerId, currency: ours.currency, paymentOrderId: order?.id ?? null, refundId: refund?.id ?? null });
  return { outcome: 'settled', sellerId: ours.sellerId };
}

async function importSettlementItems(db: Database, reportDate: string, items: SettlementReportDto['items'], feeModel?: FeeModel): Promise<Omit<ImportResult, 'date' | 'items'>> {
  const report = { date: reportDate, items };
  return db.transaction(async (tx) => {
    const captureIds = report.items.filter((i) => i.kind === 'CAPTURE').map((i) => i.captureId);
    const refundIds = report.items.filter((i) => i.kind === 'REFUND' && i.refundId).map((i) => i.refundId!);
    // FOR UPDATE also waits for a refund of these orders still in flight (its insert holds the order
    // row through its foreign key): a seller's first settlement, which creates the payout account
    // row a refund and a payout reservation lock, is thereby serialised with such a refund.
    const orders = captureIds.length === 0 ? [] : await tx.select().from(paymentOrders).where(inArray(paymentOrders.pspCaptureId, captureIds)).for('update');
    const ourRefunds = refundIds.length === 0 ? [] : await tx.select().from(refunds).where(inArray(refunds.pspRefundId, refundIds)).for('update');
    const orderByCapture = new Map(orders.map((o) => [o.pspCaptureId!, o]));
    const refundByPspId = new Map(ourRefunds.map((r) => [r.pspRefundId!, r]));

    const inserted = await tx
      .insert(settlementItems)
      .values(
        report.items.map((item) => {
          const order = item.kind === 'CAPTURE' ? orderByCapture.get(item.captureId) : undefined;
          const refund = item.kind === 'REFUND' && item.refundId ? refundByPspId.get(item.refundId) : undefined;
          return {
            itemId: item.itemId,
            reportDate: report.date,
            kind: item.kind,
            pspCaptureId: item.captureId,
            pspRefundId: item.refundId ?? null,
            reference: item.reference,
            grossMinor: BigInt(item.grossMinor),
            feeMinor: BigInt(item.feeMinor),
            netMinor: BigInt(item.netMinor),
            currency: item.currency,
            paymentOrderId: order?.id ?? refund?.paymentOrderId ?? null,
            refundId: refund?.id ?? null,
            sellerId: order?.sellerId ?? refund?.sellerId ?? null,
          };
        }),
      )
      .onConflictDoNothing({ target: settlementItems.itemId })
      .returning({ itemId: settlementItems.itemId });
    const fresh = new Set(inserted.map((r) => r.itemId));

    let settled = 0;
    let mismatches = 0;
    const sellers = new Set<string>();
    for (const item of report.items) {
      if (!fresh.has(item.itemId)) continue; // imported before: nothing new
      const order = item.kind === 'CAPTURE' ? orderByCapture.get(item.captureId) : undefined;
      const refund = item.kind === 'REFUND' && item.refundId ? refundByPspId.get(item.refundId) : undefined;
      const decided = await decideItem(tx, { ...item, reportDate: report.date }, order, refund, feeModel);
      if (decided.outcome === 'settled') {
        sellers.add(decided.sellerId);
        settled++;
      } else if (decided.recorded) mismatches++;
    }
    return { newItems: fresh.size, settled, mismatches, sellers: [...sellers] };
  });
}

export type RematchResult = { rematched: number; settled: number; sellers: string[] };

/**
 * Items filed `settled-unknown` are matched again: the PSP may settle a capture or a refund before
 * we hold its id (a capture whose outcome was unknown and resolved by a later look-up, a refund
 * still in flight when the report was imported). An item that now names one of ours is recorded
 * against it and decided as at import (settled, or an amount/fee mismatch); its `settled-unknown`
 * mismatch is resolved. Items of every day are covered, not only the days re-imported. Bounded
 * (`limit` items per call, oldest first); items no one has claimed stay open.
 */
export async function rematchUnknownItems(db: Database, options: { limit: number; feeModel?: FeeModel }): Promise<RematchResult> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.execute<{ mismatch_id: string; item_id: string; report_date: string; kind: 'CAPTURE' | 'REFUND'; psp_capture_id: string; psp_refund_id: string | null; reference: string; gross_minor: string; fee_minor: string; net_minor: string; currency: string }>(sql`
      select m.id::text as mismatch_id, i.item_id, i.report_date, i.kind, i.psp_capture_id, i.psp_refund_id, i.reference, i.gross_minor::text, i.fee_minor::text, i.net_minor::text, i.currency
        from reconciliation_mismatches m join settlement_items i on i.item_id = m.subject_id
       where m.kind = 'settled-unknown' and m.resolved_at is null
         and ((i.kind = 'CAPTURE' and exists (select 1 from payment_orders po where po.psp_capture_id = i.psp_capture_id))
           or (i.kind = 'REFUND' and exists (select 1 from refunds r where r.psp_refund_id = i.psp_refund_id and r.status = 'REFUNDED')))
       order by m.id limit ${options.limit}
       for update of m skip locked`);
    const result: RematchResult = { rematched: 0, settled: 0, sellers: [] };
    const sellers = new Set<string>();
    for (const row of rows) {
      const item = { itemId: row.item_id, reportDate: row.report_date, kind: row.kind, captureId: row.psp_capture_id, refundId: row.psp_refund_id ?? undefined, reference: row.reference, grossMinor: row.gross_minor, feeMinor: row.fee_minor, netMinor: row.net_minor, currency: row.currency.trim() };
      const [order] = item.kind === 'CAPTURE' ? await tx.select().from(paymentOrders).where(eq(paymentOrders.pspCaptureId, item.captureId)).for('update') : [];
      const [refund] = item.kind === 'REFUND' && item.refundId ? await tx.select().from(refunds).where(eq(refunds.pspRefundId, item.refundId)).for('update') : [];
      if (!order && !refund) continue;
      await tx
        .update(settlementItems)
        .set({ paymentOrderId: order?.id ?? refund?.paymentOrderId ?? null, refundId: refund?.id ?? null, sellerId: order?.sellerId ?? refund?.sellerId ?? null })
        .where(eq(settlementItems.itemId, item.itemId));
      const decided = await decideItem(tx, item, order, refund, options.feeModel);
      if (decided.outcome === 'settled-unknown') continue; // e.g. the refund is not REFUNDED after all
      await tx
        .update(reconciliationMismatches)
        .set({ resolvedAt: sql`now()`, resolution: decided.outcome === 'settled' ? 'matched later: settled' : `matched later: ${decided.outcome}` })
        .where(eq(reconciliationMismatches.id, BigInt(row.mismatch_id)));
      result.rematched++;
      if (decided.outcome === 'settled') {
        result.settled++;
        sellers.add(decided.sellerId);
      }
    }
    result.sellers = [...sellers];
    return result;
  });
}

export type AcceptOutcome = { accepted: { mismatchId: string; itemId: string; sellerId: string; journalEntryId: string } } | { refused: 'mismatch-unknown' | 'mismatch-resolved' | 'not-acceptable'; detail?: string };

/**
 * An operator accepts what the PSP settled for an `amount-mismatch` or `fee-mismatch`: the item
 * is settled at the PSP's figures (its SETTLEMENT entry, the order or refund marked settled, so the
 * seller's share - net of that capture's refunds - becomes available), and the mismatch is resolved
 * with the actor and the reason. A difference between our gross and the PSP's stays in
 * PSP_RECEIVABLES until an ADJUSTMENT books it. Refused for other kinds, for another currency, and
 * for an order or refund already settled.
 */
export async function acceptSettledItem(
  db: Database,
  request: { mismatchId: string; reason: string; actor: string },
  options: { inTransaction?: (tx: Executor, outcome: AcceptOutcome) => Promise<void> } = {},
): Promise<AcceptOutcome> {
  return db.transaction(async (tx): Promise<AcceptOutcome> => {
    const [mismatch] = await tx.select().from(reconciliationMismatches).where(eq(reconciliationMismatches.id, BigInt(request.mismatchId))).for('update');
    if (!mismatch) return { refused: 'mismatch-unknown' };
    if (mismatch.resolvedAt !== null) return { refused: 'mismatch-resolved' };
    if (mismatch.kind !== 'amount-mismatch' && mismatch.kind !== 'fee-mismatch') return { refused: 'not-acceptable', detail: `a ${mismatch.kind} mismatch names nothing of ours to settle` };
    const [item] = await tx.select().from(settlementItems).where(eq(settlementItems.itemId, mismatch.subjectId));
    const [order] = item?.kind === 'CAPTURE' && item.paymentOrderId ? await tx.select().from(paymentOrders).where(eq(paymentOrders.id, item.paymentOrderId)).for('update') : [];
    const [refund] = item?.kind === 'REFUND' && item.refundId ? await tx.select().from(refunds).where(eq(refunds.id, item.refundId)).for('update') : [];
    const ours = order ?? refund;
    if (!item || !ours || !item.sellerId) return { refused: 'not-acceptable', detail: 'the settlement item names none of our captures or refunds' };
    if (ours.currency.trim() !== item.currency.trim()) return { refused: 'not-acceptable', detail: `the PSP settled ${item.currency}, we hold ${ours.currency}: take it up with the PSP` };
    if (ours.settledAt !== null) return { refused: 'not-acceptable', detail: 'this capture or refund is already settled by another item' };
    await settleItem(
      tx,
      { itemId: item.itemId, reportDate: item.reportDate, kind: item.kind as 'CAPTURE' | 'REFUND', captureId: item.pspCaptureId, refundId: item.pspRefundId ?? undefined, grossMinor: item.grossMinor.toString(), feeMinor: item.feeMinor.toString(), currency: item.currency.trim() },
      { sellerId: item.sellerId, currency: ours.currency.trim(), paymentOrderId: order?.id ?? null, refundId: refund?.id ?? null },
    );
    await tx.update(reconciliationMismatches).set({ resolvedAt: sql`now()`, resolution: `ACCEPTED as settled by ${request.actor}: ${request.reason}`.slice(0, 1000) }).where(eq(reconciliationMismatches.id, mismatch.id));
    const outcome: AcceptOutcome = { accepted: { mismatchId: request.mismatchId, itemId: item.itemId, sellerId: item.sellerId, journalEntryId: `SETTLEMENT:${item.itemId}` } };
    await options.inTransaction?.(tx, outcome);
    return outcome;
  });
}

/** Of `sellerIds`, those with a payout account whose payout Schedule has not been created yet. */
export async function sellersWithoutPayoutSchedule(db: Database, sellerIds: string[]): Promise<string[]> {
  const out = new Set<string>();
  for (let i = 0; i < sellerIds.length; i += SETTLEMENT_IMPORT_CHUNK) {
    const rows = await db
      .selectDistinct({ sellerId: payoutAccounts.sellerId })
      .from(payoutAccounts)
      .where(and(inArray(payoutAccounts.sellerId, sellerIds.slice(i, i + SETTLEMENT_IMPORT_CHUNK)), isNull(payoutAccounts.scheduleCreatedAt)));
    for (const r of rows) out.add(r.sellerId);
  }
  return [...out];
}

/** Sellers with a payout account but no payout Schedule yet (an operator's acceptance creates the account outside a settlement run), oldest first. */
export async function payoutAccountsWithoutSchedule(db: Database, limit: number): Promise<string[]> {
  const rows = await db.selectDistinct({ sellerId: payoutAccounts.sellerId }).from(payoutAccounts).where(isNull(payoutAccounts.scheduleCreatedAt)).orderBy(payoutAccounts.sellerId).limit(limit);
  return rows.map((r) => r.sellerId);
}

/** Captures and refunds we hold as done that the PSP has not settled `olderThanS` after. */
export async function detectUnsettled(db: Database, options: { olderThanS: number; limit: number }): Promise<number> {
  const { rows } = await db.execute<{ n: number }>(sql`
    with late as (
      select po.id::text as subject_id, po.seller_id, jsonb_build_object('kind', 'CAPTURE', 'paymentOrderId', po.id, 'pspCaptureId', po.psp_capture_id, 'amountMinor', po.amount_minor::text, 'currency', po.currency, 'capturedAt', po.updated_at) as details
        from payment_orders po
       where po.status = 'CAPTURED' and po.settled_at is null and po.psp_capture_id is not null and po.updated_at < now() - make_interval(secs => ${options.olderThanS})
      union all
      select r.id::text, r.seller_id, jsonb_build_object('kind', 'REFUND', 'refundId', r.id, 'pspRefundId', r.psp_refund_id, 'amountMinor', r.amount_minor::text, 'currency', r.currency, 'refundedAt', r.updated_at)
        from refunds r
       where r.status = 'REFUNDED' and r.settled_at is null and r.updated_at < now() - make_interval(secs => ${options.olderThanS})
      limit ${options.limit})
    , ins as (
      insert into reconciliation_mismatches (kind, subject_id, report_date, seller_id, details)
      select 'captured-not-settled', subject_id, null, seller_id, details from late
      on conflict (kind, subject_id) do nothing returning 1)
    select count(*)::int as n from ins`);
  return rows[0]?.n ?? 0;
}

export type MismatchRow = { id: string; kind: MismatchKind; subjectId: string; reportDate: string | null; sellerId: string | null; details: unknown; detectedAt: string; resolvedAt: string | null; resolution: string | null };

export async function listMismatches(db: Database, filter: { date?: string; includeResolved?: boolean; limit: number }): Promise<MismatchRow[]> {
  const { rows } = await db.execute<Record<string, unknown>>(sql`
    select id::text, kind, subject_id, report_date, seller_id, details, created_at, resolved_at, resolution
      from reconciliation_mismatches
     where (${filter.date ?? null}::text is null or report_date = ${filter.date ?? null} or (report_date is null and created_at::date = ${filter.date ?? null}::date))
       and (${filter.includeResolved ?? false} or resolved_at is null)
     order by id limit ${filter.limit}`);
  return rows.map((r) => ({
    id: String(r.id),
    kind: r.kind as MismatchKind,
    subjectId: String(r.subject_id),
    reportDate: (r.report_date as string | null) ?? null,
    sellerId: (r.seller_id as string | null) ?? null,
    details: r.details,
    detectedAt: new Date(r.created_at as string).toISOString(),
    resolvedAt: r.resolved_at ? new Date(r.resolved_at as string).toISOString() : null,
    resolution: (r.resolution as string | null) ?? null,
  }));
}

export async function openMismatchCounts(db: Database): Promise<Record<string, number>> {
  const { rows } = await db.execute<{ kind: string; n: number }>(sql`select kind, count(*)::int as n from reconciliation_mismatches where resolved_at is null group by kind`);
  return Object.fromEntries(rows.map((r) => [r.kind, r.n]));
}

export type AdjustmentRequest = { streamId: string; debitAccount: string; creditAccount: string; amountMinor: bigint; currency: string; reason: string; actor: string; mismatchId?: string };
export type AdjustmentOutcome = { adjustmentId: string } | { refused: 'mismatch-unknown' | 'mismatch-resolved' | 'mismatch-needs-accept' };

/**
 * An operator's ADJUSTMENT: the audit row and the ledger fact in one transaction (the entry is
 * `ADJUSTMENT:{id}`, journaled by the stream's ledger), and the mismatch it answers, if any, is
 * marked resolved - refused when that mismatch is unknown or already resolved, so one mismatch is
 * never adjusted twice. `inTransaction` runs last in the same transaction (the API records the
 * idempotent response there). Never called automatically.
 */
export async function recordAdjustment(
  db: Database,
  request: AdjustmentRequest,
  options: { id?: string; inTransaction?: (tx: Executor, adjustmentId: string) => Promise<void> } = {},
): Promise<AdjustmentOutcome> {
  const id = options.id ?? randomUUID();
  return db.transaction(async (tx): Promise<AdjustmentOutcome> => {
    if (request.mismatchId) {
      const [mismatch] = await tx
        .select({ resolvedAt: reconciliationMismatches.resolvedAt, kind: reconciliationMismatches.kind })
        .from(reconciliationMismatches)
        .where(eq(reconciliationMismatches.id, BigInt(request.mismatchId)))
        .for('update');
      if (!mismatch) return { refused: 'mismatch-unknown' };
      if (mismatch.resolvedAt !== null) return { refused: 'mismatch-resolved' };
      // Only money the PSP settled that is not ours (settled-unknown) is resolved by an adjustment.
      // Resolving a mismatch of our own capture or refund that way would leave it unsettled for
      // good (its share never payable): an amount or fee mismatch is accepted first (and the
      // difference adjusted after, without mismatchId); captured-not-settled resolves when the
      // PSP settles it.
      if (mismatch.kind !== 'settled-unknown') return { refused: 'mismatch-needs-accept' };
    }
    // A seller's payable credited by hand is payable like settled money: the seller needs a payout
    // account (its Schedule follows at the next settlement run).
    const payable = merchantPayable(request.streamId);
    if (request.debitAccount === payable || request.creditAccount === payable) {
      await tx.insert(payoutAccounts).values({ sellerId: request.streamId, currency: request.currency }).onConflictDoNothing();
    }
    await tx.insert(ledgerAdjustments).values({ id, streamId: request.streamId, debitAccount: request.debitAccount, creditAccount: request.creditAccount, amountMinor: request.amountMinor, currency: request.currency, reason: request.reason, actor: request.actor, mismatchId: request.mismatchId ? BigInt(request.mismatchId) : null });
    await insertLedgerFacts(tx, [
      {
        entryType: 'ADJUSTMENT',
        paymentOrderId: null,
        paymentId: null,
        sellerId: request.streamId,
        amountMinor: request.amountMinor.toString(),
        currency: request.currency,
        commissionBps: 0,
        metadata: { reason: request.reason.slice(0, 256), actor: request.actor.slice(0, 256) },
        subject: { subjectId: id, debitAccount: request.debitAccount, creditAccount: request.creditAccount },
      },
    ]);
    if (request.mismatchId) {
      await tx.update(reconciliationMismatches).set({ resolvedAt: sql`now()`, resolution: `ADJUSTMENT:${id} by ${request.actor}: ${request.reason}`.slice(0, 1000) }).where(eq(reconciliationMismatches.id, BigInt(request.mismatchId)));
    }
    await options.inTransaction?.(tx, id);
    return { adjustmentId: id };
  });
}

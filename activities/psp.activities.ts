/**
 * PSP activities: a thin adapter from the workflow to the PSP port. Outcomes are returned as
 * values (the workflow decides about retries and jitter); only an unexpected crash of the activity
 * itself is left to Temporal's retry policy.
 */
import { Context } from '@temporalio/activity';
import type { CaptureOutcome, PaymentServiceProvider } from '../psp/psp.port';
import { parseMinor } from '../domain/money';

export type CaptureInput = { paymentOrderId: string; authorizationId: string; amountMinor: string; currency: string };

/** One key per PaymentOrder: every retry of its capture is the same request to the PSP. */
export const captureIdempotencyKey = (paymentOrderId: string): string => `capture:${paymentOrderId}`;

export function createPspActivities(deps: { psp: PaymentServiceProvider }) {
  return {
    async capturePayment(input: CaptureInput): Promise<CaptureOutcome> {
      const outcome = await deps.psp.capture({
        idempotencyKey: captureIdempotencyKey(input.paymentOrderId),
        authorizationId: input.authorizationId,
        amountMinor: parseMinor(input.amountMinor),
        currency: input.currency,
        reference: input.paymentOrderId,
      });
      Context.current().log.debug('psp capture', { paymentOrderId: input.paymentOrderId, outcome: outcome.kind, code: 'code' in outcome ? outcome.code : undefined });
      return outcome;
    },
  };
}

/** The webhook endpoint workflow's contract: id, input, signal. Pure; shared by workflow, relay and API. */
import { defineSignal } from '@temporalio/workflow';

/** One workflow per endpoint; the id is derived from the endpoint id, so starting it twice is harmless. */
export const webhookEndpointWorkflowId = (endpointId: string): string => `webhook-endpoint:${endpointId}`;

/** New or resent deliveries are due: look now instead of at the next timer. */
export const webhookWakeSignal = defineSignal('webhookWake');

export type WebhookEndpointSettings = {
  /** Deliveries one activity sends; while the endpoint is failing only one (a probe). */
  batchMax: number;
  /** Endpoint-level backoff while every attempt fails (equal jitter, see domain/backoff.ts). */
  backoff: { baseMs: number; capMs: number };
  /** Rounds before continue-as-new (bounds the history). */
  roundsMax: number;
  /** A round heartbeats after each send; a round silent this long (its worker died) is retried. Optional for runs started before it existed. */
  heartbeatTimeoutMs?: number;
};

export type WebhookEndpointInput = {
  endpointId: string;
  settings: WebhookEndpointSettings;
  /** Consecutive rounds in which every attempt failed (carried over continue-as-new). */
  failStreak?: number;
};

/** What one round of sending reports to the workflow. */
export type WebhookRoundResult =
  | { endpoint: 'gone' | 'disabled' }
  | {
      endpoint: 'enabled';
      attempted: number;
      delivered: number;
      /** Milliseconds until the next pending delivery is due; null when none is pending. */
      nextDueInMs: number | null;
    };

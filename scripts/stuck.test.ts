import { formatDuration, parseDurationMs, stuckSections } from './stuck';

describe('stuck: the visibility queries', () => {
  const now = new Date('2026-11-24T01:00:00.000Z');
  const base = { olderThanMs: 5 * 60_000, sinceMs: 3_600_000, taskQueue: 'payments', now };

  it('finds a final status among closed workflows, by close time (a failed capture is a completed workflow)', () => {
    const [section] = stuckSections({ ...base, status: 'CAPTURE_FAILED', olderThanMs: 0 });
    expect(section!.query).toBe(
      "WorkflowType = 'paymentOrderWorkflow' AND TaskQueue = 'payments' AND PaymentOrderStatus = 'CAPTURE_FAILED' AND ((ExecutionStatus = 'Running' AND StartTime < '2026-11-24T01:00:00.000Z') OR CloseTime > '2026-11-24T00:00:00.000Z')",
    );
    expect(section!.query).not.toMatch(/^[^(]*ExecutionStatus = 'Running' AND PaymentOrderStatus/);
  });

  it('asks for refunds by RefundStatus', () => {
    const [section] = stuckSections({ ...base, status: 'REFUND_FAILED' });
    expect(section!.kind).toBe('refund');
    expect(section!.query).toContain("WorkflowType = 'refundWorkflow'");
    expect(section!.query).toContain("RefundStatus = 'REFUND_FAILED'");
  });

  it('the default view covers capturing too long, failed captures, unknown outcomes, failed and long refunds, failed workflows', () => {
    const sections = stuckSections(base);
    expect(sections.map((s) => s.name)).toEqual(['capturing', 'capture-failed', 'unknown-outcome', 'refund-failed', 'refund-running', 'workflow-failed']);
    const q = Object.fromEntries(sections.map((s) => [s.name, s.query]));
    expect(q.capturing).toContain("PaymentOrderStatus IN ('INITIATED_PENDING', 'CAPTURE_REQUESTED', 'PENDING_CAPTURE') AND StartTime < '2026-11-24T00:55:00.000Z'");
    expect(q['capture-failed']).toContain("PaymentOrderStatus = 'CAPTURE_FAILED' AND CloseTime > '2026-11-24T00:00:00.000Z'");
    expect(q['unknown-outcome']).toContain("LastPspErrorCode IN ('TIMEOUT', 'CONNECTION_LOST'");
    expect(q['refund-failed']).toContain("RefundStatus = 'REFUND_FAILED' AND CloseTime >");
    expect(q['workflow-failed']).toContain("ExecutionStatus IN ('Failed', 'Terminated', 'TimedOut')");
    for (const s of sections) expect(s.query).toContain("TaskQueue = 'payments'");
  });

  it('parses and prints durations', () => {
    expect(parseDurationMs('90s')).toBe(90_000);
    expect(parseDurationMs('1h')).toBe(3_600_000);
    expect(parseDurationMs('1d')).toBe(86_400_000);
    expect(parseDurationMs('5 m')).toBeUndefined();
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(90_000)).toBe('90s');
  });
});

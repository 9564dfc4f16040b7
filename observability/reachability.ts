/**
 * "Can we reach it" checks for HTTP dependencies that have no health endpoint of ours (a real
 * PSP): any HTTP answer at all means reachable; a refused connection, an unresolved name or no
 * answer within the timeout means not.
 */
export async function httpReachable(url: string, timeoutMs = 1_500): Promise<number> {
  const res = await fetch(url, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  await res.body?.cancel().catch(() => undefined);
  return res.status;
}

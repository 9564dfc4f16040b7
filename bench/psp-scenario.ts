/** Benchmarks switch the PSP simulator's scenario for a run and put the previous one back. */
export async function setPspScenario(pspBaseUrl: string, scenario: string): Promise<void> {
  const res = await fetch(`${pspBaseUrl}/v1/scenario`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scenario }) });
  if (!res.ok) throw new Error(`the PSP simulator refused scenario ${scenario}: ${res.status}`);
}

export async function currentPspScenario(pspBaseUrl: string): Promise<string> {
  return ((await (await fetch(`${pspBaseUrl}/readyz`)).json()) as { scenario: string }).scenario;
}

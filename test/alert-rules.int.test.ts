/**
 * The alert rules: `promtool check rules` and `promtool test rules` pass (promtool comes from
 * Debian's prometheus package, installed by `scripts/stack alert-tools` when missing); every rule
 * has a unit test that fires it and one that does not, and a runbook_url to an existing section of
 * docs/runbook.md; the Kubernetes PrometheusRule and both Prometheus configurations carry the rules.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ALERTS_FILE, K8S_RULE_FILE, prometheusRuleYaml } from '../scripts/alert-rules-k8s';

const ROOT = path.resolve(__dirname, '..');
type Rule = { alert: string; expr: string; annotations: Record<string, string>; labels: Record<string, string> };
const rules = (parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
export const anchorOf = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

describe('alert rules (deploy/prometheus)', () => {
  let promtool: string;
  beforeAll(() => {
    const out = execFileSync(path.join(ROOT, 'scripts/stack'), ['alert-tools'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 });
    promtool = /^PROMTOOL_BIN=(.+)$/m.exec(out)![1]!;
  }, 600_000);

  it('promtool checks the rules and passes their unit tests', () => {
    const check = spawnSync(promtool, ['check', 'rules', ALERTS_FILE], { encoding: 'utf8' });
    expect(check.stdout + check.stderr).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(check.status).toBe(0);
    const test = spawnSync(promtool, ['test', 'rules', path.join(ROOT, 'deploy/prometheus/alerts.test.yml')], { encoding: 'utf8' });
    console.log(`promtool test rules deploy/prometheus/alerts.test.yml:\n${test.stdout}${test.stderr}`);
    expect(test.stdout + test.stderr).toContain('SUCCESS');
    expect(test.status).toBe(0);
  });

  it('unit-tests every rule, firing and not firing', () => {
    const tests = (parse(readFileSync(path.join(ROOT, 'deploy/prometheus/alerts.test.yml'), 'utf8')) as { tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }> }).tests.flatMap((t) => t.alert_rule_test);
    for (const rule of rules) {
      const cases = tests.filter((t) => t.alertname === rule.alert);
      expect({ alert: rule.alert, fires: cases.some((c) => c.exp_alerts.length > 0), quiet: cases.some((c) => c.exp_alerts.length === 0) }).toEqual({ alert: rule.alert, fires: true, quiet: true });
    }
  });

  it('gives every rule a severity, a summary and a runbook_url to a section of docs/runbook.md', () => {
    const anchors = new Set(
      readFileSync(path.join(ROOT, 'docs/runbook.md'), 'utf8')
        .split('\n')
        .filter((l) => /^#{1,6} /.test(l))
        .map((l) => anchorOf(l.replace(/^#+ /, ''))),
    );
    for (const rule of rules) {
      expect(['warning', 'critical']).toContain(rule.labels.severity);
      expect(rule.annotations.summary).toBeTruthy();
      const url = rule.annotations.runbook_url ?? '';
      const [file, anchor] = url.split('#');
      expect({ alert: rule.alert, file, anchorExists: anchors.has(anchor ?? '') }).toEqual({ alert: rule.alert, file: 'docs/runbook.md', anchorExists: true });
    }
  });

  it('is wired into compose, the local Prometheus configuration and Kubernetes', () => {
    expect(readFileSync(K8S_RULE_FILE, 'utf8')).toBe(prometheusRuleYaml(readFileSync(ALERTS_FILE, 'utf8')));
    expect(readFileSync(path.join(ROOT, 'k8s/base/kustomization.yaml'), 'utf8')).toMatch(/^\s+- prometheus-rule\.yaml$/m);
    const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { volumes?: string[] }> };
    expect(compose.services.prometheus!.volumes).toContain('./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro');
    expect((parse(readFileSync(path.join(ROOT, 'deploy/compose/prometheus.yml'), 'utf8')) as { rule_files: string[] }).rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    // The local configuration resolves its rule file relative to itself; promtool loads it.
    const local = spawnSync(promtool, ['check', 'config', path.join(ROOT, 'observability/prometheus.yml')], { encoding: 'utf8' });
    expect(local.stdout + local.stderr).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(local.status).toBe(0);
  });
});

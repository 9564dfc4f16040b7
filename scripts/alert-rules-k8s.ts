/**
 * Writes k8s/base/prometheus-rule.yaml: the PrometheusRule (Prometheus Operator) carrying the
 * groups of deploy/prometheus/alerts.yml, the one source of the alert rules. Run it after editing
 * the rules; test/alert-rules.int.test.ts and scripts/validate-deploy.ts fail while the
 * two differ.
 *
 *   node --import tsx scripts/alert-rules-k8s.ts [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';

const ROOT = path.resolve(__dirname, '..');
export const ALERTS_FILE = path.join(ROOT, 'deploy/prometheus/alerts.yml');
export const K8S_RULE_FILE = path.join(ROOT, 'k8s/base/prometheus-rule.yaml');

export function prometheusRuleYaml(alertsYaml: string): string {
  const { groups } = parse(alertsYaml) as { groups: unknown[] };
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'payorch-alerts', labels: { 'app.kubernetes.io/name': 'payorch-alerts' } },
    spec: { groups },
  };
  return `# Generated from deploy/prometheus/alerts.yml by scripts/alert-rules-k8s.ts; do not edit by hand.\n${stringify(rule, { lineWidth: 0 })}`;
}

if (require.main === module) {
  const want = prometheusRuleYaml(readFileSync(ALERTS_FILE, 'utf8'));
  if (process.argv.includes('--check')) {
    const have = readFileSync(K8S_RULE_FILE, 'utf8');
    if (have !== want) {
      console.error(`${path.relative(ROOT, K8S_RULE_FILE)} differs from ${path.relative(ROOT, ALERTS_FILE)}: run node --import tsx scripts/alert-rules-k8s.ts`);
      process.exit(1);
    }
  } else {
    writeFileSync(K8S_RULE_FILE, want);
    console.log(`wrote ${path.relative(ROOT, K8S_RULE_FILE)}`);
  }
}

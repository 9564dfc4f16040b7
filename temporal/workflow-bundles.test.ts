/**
 * The SDK version check between a prebuilt workflow bundle and the worker running it (issue 18):
 * the build (scripts/bundle-workflows.ts) and the worker at start refuse a mismatch.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertBundleMatchesWorker, BUNDLE_MANIFEST, sdkMismatch, workerSdkVersions } from './workflow-bundles';

const v = (version: string, worker = version) => ({ '@temporalio/workflow': version, '@temporalio/common': version, '@temporalio/worker': worker, '@temporalio/core-bridge': worker });

describe('workflow bundle SDK versions', () => {
  test('equal versions pass; any difference is named', () => {
    expect(sdkMismatch(v('1.24.0'), v('1.24.0'))).toBeUndefined();
    expect(sdkMismatch(v('1.24.0'), v('1.23.1'))).toMatch(/bundle was built with .*@temporalio\/workflow@1\.24\.0.*the worker runs .*@temporalio\/worker@1\.23\.1/);
    expect(sdkMismatch(v('1.24.0', '1.24.1'), v('1.24.1'))).toMatch(/differ/); // a bundle mixing versions
  });

  test('the worker refuses a bundle whose manifest is missing or names another SDK version', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'payorch-bundle-manifest-'));
    try {
      expect(() => assertBundleMatchesWorker(dir)).toThrow(/manifest\.json is missing/);
      const own = workerSdkVersions();
      writeFileSync(path.join(dir, BUNDLE_MANIFEST), JSON.stringify({ sdk: own }));
      expect(() => assertBundleMatchesWorker(dir)).not.toThrow();
      writeFileSync(path.join(dir, BUNDLE_MANIFEST), JSON.stringify({ sdk: { ...own, '@temporalio/workflow': '0.0.1' } }));
      expect(() => assertBundleMatchesWorker(dir)).toThrow(/Temporal SDK versions differ/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

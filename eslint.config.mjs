// ESLint (flat config). Workflow purity is enforced here: workflow files may import only
// @temporalio/workflow, type-only imports of activities, and pure domain modules, because
// anything else (I/O, clocks, randomness outside the SDK) would break deterministic replay.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['fs', 'path', 'http', 'https', 'net', 'crypto', 'child_process', 'os', 'dns', 'events', 'stream', 'timers', 'worker_threads', 'util', 'url', 'zlib'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.data/**', 'coverage/**', 'db/migrations/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.name='parseFloat']", message: 'Money is integer minor units: never parseFloat.' },
        { selector: "CallExpression[callee.property.name='toFixed']", message: 'Money is integer minor units: never toFixed.' },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.flatMap((m) => [m, `node:${m}`]).map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins.' })),
          patterns: [
            { group: ['@temporalio/*', '!@temporalio/workflow', '!@temporalio/common'], message: 'Workflows import only @temporalio/workflow (and types from @temporalio/common).' },
            { group: ['../psp/*'], allowTypeImports: true, message: 'Workflows may import the PSP port only for its types.' },
            { group: ['../db/*', '../api/*', '../temporal/*', '../config/*', '../observability/*', '../aggregator/*', '../kafka/*', 'pg', 'kafkajs', 'ioredis', 'express', 'drizzle-orm', 'drizzle-orm/*', 'pino', 'jose', 'prom-client'], message: 'Workflow code must be pure: I/O belongs in activities.' },
            { group: ['../activities/*'], importNamePattern: '^(?!type )', allowTypeImports: true, message: 'Workflows may import activities only with `import type`.' },
          ],
        },
      ],
    },
  },
  {
    files: ['ledger/**/*.ts', 'domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['../db/*', '../api/*', '../temporal/*', '../activities/*', '../workflows/*', '../psp/*', 'pg', 'kafkajs', 'ioredis', 'express', 'drizzle-orm', 'drizzle-orm/*', '@temporalio/*'], message: 'The domain is pure: it never imports db/, api/, temporal/ or infrastructure clients.' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['**/*.mjs', '**/*.js'], ...tseslint.configs.disableTypeChecked },
  { files: ['**/*.js'], languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly', __dirname: 'readonly', process: 'readonly' } } },
);

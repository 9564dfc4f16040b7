// Two projects: unit tests (pure, fast, no services) and integration tests (real Temporal,
// Postgres, Kafka, Redis and the PSP simulator, started by scripts/stack). TypeScript is
// transformed with SWC; type checking is `npm run typecheck`.
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }] };

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/.data/', '\\.int\\.test\\.ts$'],
      modulePathIgnorePatterns: ['<rootDir>/.data/', '<rootDir>/dist/'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/**/*.int.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/.data/'],
      modulePathIgnorePatterns: ['<rootDir>/.data/', '<rootDir>/dist/'],
      globalSetup: '<rootDir>/test/global-setup.ts',
      setupFiles: ['<rootDir>/test/setup-runtime.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/setup-timeout.ts'],
      globalTeardown: '<rootDir>/test/global-teardown.ts',
    },
  ],
};

import { ConfigError, parseConfig } from './config';

const base = { AUTH_DEV_SECRET: 'x'.repeat(32) };

describe('configuration', () => {
  test('defaults describe the local stack', () => {
    const config = parseConfig(base);
    expect(config.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(config.KAFKA_BROKERS).toEqual(['127.0.0.1:19092']);
    expect(config.CAPTURE_BACKOFF_BASE_MS).toBe(1_000);
    expect(config.CAPTURE_BACKOFF_CAP_MS).toBe(900_000);
    expect(config.CAPTURE_AUTH_SAFETY_MARGIN_MS).toBe(3_600_000);
    expect(config.PLATFORM_COMMISSION_BPS).toBe(0);
    expect(config.API_BODY_LIMIT_BYTES).toBe(65_536);
  });

  test('a bad value names the variable and the value', () => {
    expect(() => parseConfig({ ...base, API_PORT: 'eighty' })).toThrow(/API_PORT: .*"eighty"/);
    expect(() => parseConfig({ ...base, PSP_SCENARIO: 'SOMETIMES' })).toThrow(/PSP_SCENARIO/);
  });

  test('every bad variable is reported at once', () => {
    try {
      parseConfig({ ...base, API_PORT: '-1', DATABASE_URL: 'not a url', PLATFORM_COMMISSION_BPS: '10001' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as Error).message;
      expect(message).toMatch(/API_PORT/);
      expect(message).toMatch(/DATABASE_URL/);
      expect(message).toMatch(/PLATFORM_COMMISSION_BPS/);
    }
  });

  test('dev auth needs a secret of at least 32 characters; production needs JWKS', () => {
    expect(() => parseConfig({})).toThrow(/AUTH_DEV_SECRET: required/);
    expect(() => parseConfig({ AUTH_DEV_SECRET: 'short' })).toThrow(/AUTH_DEV_SECRET: must be at least 32/);
    expect(() => parseConfig({ NODE_ENV: 'production', ...base })).toThrow(/AUTH_MODE: must be jwks/);
    expect(() => parseConfig({ AUTH_MODE: 'jwks' })).toThrow(/AUTH_JWKS_URL/);
  });

  test('FAULT_INJECT other than none is refused in production, allowed elsewhere', () => {
    const production = { NODE_ENV: 'production', AUTH_MODE: 'jwks', AUTH_JWKS_URL: 'https://issuer.example/jwks.json' };
    expect(parseConfig(production).FAULT_INJECT).toBe('none');
    expect(() => parseConfig({ ...production, FAULT_INJECT: 'crash-after-commit' })).toThrow(/FAULT_INJECT: must be none when NODE_ENV=production/);
    expect(() => parseConfig({ ...production, FAULT_INJECT: 'crash-after-response' })).toThrow(/FAULT_INJECT/);
    expect(parseConfig({ ...base, NODE_ENV: 'test', FAULT_INJECT: 'crash-after-commit' }).FAULT_INJECT).toBe('crash-after-commit');
  });

  test('token, rate-limit, retention and CORS settings have stated defaults and bounds', () => {
    const config = parseConfig(base);
    expect([config.AUTH_TOKEN_MAX_LIFETIME_S, config.AUTH_CLOCK_TOLERANCE_S, config.AUTH_JWKS_CACHE_MAX_AGE_S, config.AUTH_JWKS_COOLDOWN_S]).toEqual([3_600, 5, 600, 30]);
    expect([config.RATE_LIMIT_WINDOW_S, config.RATE_LIMIT_WRITES_PER_CLIENT, config.RATE_LIMIT_WRITES_PER_IP, config.RATE_LIMIT_READS_PER_CLIENT, config.RATE_LIMIT_READS_PER_IP]).toEqual([10, 1_000, 2_000, 3_000, 6_000]);
    expect(config.RATE_LIMIT_WRITES_ON_REDIS_DOWN).toBe('open');
    expect(config.IDEMPOTENCY_KEY_RETENTION_S).toBe(7 * 86_400);
    expect(config.API_CORS_ORIGINS).toEqual([]);
    expect(parseConfig({ ...base, API_CORS_ORIGINS: 'https://shop.example, http://localhost:5173' }).API_CORS_ORIGINS).toEqual(['https://shop.example', 'http://localhost:5173']);
    expect(() => parseConfig({ ...base, API_CORS_ORIGINS: '*' })).toThrow(/API_CORS_ORIGINS/);
    expect(() => parseConfig({ ...base, RATE_LIMIT_WRITES_ON_REDIS_DOWN: 'maybe' })).toThrow(/RATE_LIMIT_WRITES_ON_REDIS_DOWN/);
    expect(() => parseConfig({ ...base, AUTH_CLOCK_TOLERANCE_S: '3600' })).toThrow(/AUTH_CLOCK_TOLERANCE_S/);
    // Retention must outlast the lease of an in-flight request.
    expect(() => parseConfig({ ...base, IDEMPOTENCY_KEY_RETENTION_S: '60', IDEMPOTENCY_LEASE_MS: '60000' })).toThrow(/IDEMPOTENCY_KEY_RETENTION_S: must be longer than IDEMPOTENCY_LEASE_MS/);
  });

  test('backoff cap below base is rejected', () => {
    expect(() => parseConfig({ ...base, CAPTURE_BACKOFF_BASE_MS: '5000', CAPTURE_BACKOFF_CAP_MS: '1000' })).toThrow(/CAPTURE_BACKOFF_CAP_MS/);
  });
});

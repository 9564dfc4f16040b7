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

  test('backoff cap below base is rejected', () => {
    expect(() => parseConfig({ ...base, CAPTURE_BACKOFF_BASE_MS: '5000', CAPTURE_BACKOFF_CAP_MS: '1000' })).toThrow(/CAPTURE_BACKOFF_CAP_MS/);
  });
});

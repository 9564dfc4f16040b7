import { checkWebhookUrlSyntax, refusedAddress, validateWebhookUrl, type Resolver } from './url-policy';

const resolvesTo = (...addresses: string[]): Resolver => () => Promise.resolve(addresses);

describe('webhook URL policy (SSRF)', () => {
  test.each([
    'http://169.254.169.254/latest/meta-data',
    'https://169.254.169.254/',
    'http://10.0.0.1/hook',
    'https://10.0.0.1/hook',
    'https://192.168.1.10/hook',
    'https://172.16.5.4/hook',
    'https://100.64.0.1/hook',
    'https://127.0.0.1/hook',
    'https://[::1]/hook',
    'https://[::ffff:10.0.0.1]/hook',
    'https://[::ffff:169.254.169.254]/hook',
    'https://[fe80::1]/hook',
    'https://[fd00:ec2::254]/hook',
    'https://2130706433/hook',
    'https://0x7f.1/hook',
    'https://localhost/hook',
    'https://metadata.google.internal/computeMetadata/v1/',
    'https://printer.local/',
    'https://intranet/',
    'http://example.com/hook',
    'ftp://example.com/hook',
    'https://user:pass@example.com/hook',
    'not a url',
  ])('production refuses %s', async (url) => {
    const check = await validateWebhookUrl(url, 'production', resolvesTo('93.184.215.14'));
    expect(check.ok).toBe(false);
  });

  test('production accepts a public https URL', async () => {
    expect((await validateWebhookUrl('https://hooks.example.com/payorch', 'production', resolvesTo('93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'))).ok).toBe(true);
    expect((await validateWebhookUrl('https://1.1.1.1/hook', 'production')).ok).toBe(true);
  });

  test('a host name resolving to loopback or a private address is refused (any one address is enough)', async () => {
    const loop = await validateWebhookUrl('https://rebind.example.com/hook', 'production', resolvesTo('127.0.0.1'));
    expect(loop).toEqual({ ok: false, detail: expect.stringContaining('resolves to 127.0.0.1') });
    expect((await validateWebhookUrl('https://mixed.example.com/hook', 'production', resolvesTo('93.184.215.14', '10.1.2.3'))).ok).toBe(false);
  });

  test('an unresolvable host is refused', async () => {
    const check = await validateWebhookUrl('https://nx.example.com/hook', 'production', () => Promise.reject(new Error('ENOTFOUND')));
    expect(check).toEqual({ ok: false, detail: 'the host nx.example.com could not be resolved' });
  });

  test('development also accepts loopback, over http too, and nothing else private', async () => {
    expect(checkWebhookUrlSyntax('http://127.0.0.1:8080/hook', 'development').ok).toBe(true);
    expect(checkWebhookUrlSyntax('http://localhost:8080/hook', 'development').ok).toBe(true);
    expect(checkWebhookUrlSyntax('http://10.0.0.1/hook', 'development').ok).toBe(false);
    expect(checkWebhookUrlSyntax('http://169.254.169.254/', 'development').ok).toBe(false);
    expect(checkWebhookUrlSyntax('http://example.com/', 'development').ok).toBe(false);
    expect(checkWebhookUrlSyntax('http://127.0.0.1:8080/hook', 'production').ok).toBe(false);
  });

  test('addresses: mapped IPv4 is judged as IPv4', () => {
    expect(refusedAddress('::ffff:7f00:1', 'production')).toBeDefined();
    expect(refusedAddress('::ffff:7f00:1', 'development')).toBeUndefined();
    expect(refusedAddress('8.8.8.8', 'production')).toBeUndefined();
    expect(refusedAddress('169.254.169.254', 'development')).toBeDefined();
  });
});

import type { Principal } from './auth';
import { ownedRows, readAccess } from './ownership';
import { Problem } from './problem';

const principal = (scopes: string[], sellerId?: string): Principal => ({ subject: 's', clientId: 's', scopes: new Set(scopes), ...(sellerId ? { sellerId } : {}) });
const rows = [
  { id: 1, sellerId: 'a' },
  { id: 2, sellerId: 'b' },
  { id: 3, sellerId: 'a:b' },
];
const SCOPES = ['payments:read', 'payments:write'];

describe('reads are owned', () => {
  test('a reader with a read scope sees every row', () => {
    expect(ownedRows(readAccess(principal(['payments:read']), SCOPES), rows)).toEqual(rows);
    expect(ownedRows(readAccess(principal(['payments:write']), SCOPES), rows)).toEqual(rows);
    expect(ownedRows(readAccess(principal(['payments:read']), SCOPES), [])).toEqual([]);
  });

  test('a seller sees only its own rows, whatever its scopes; none of its own is "not found"', () => {
    expect(ownedRows(readAccess(principal([], 'a'), SCOPES), rows)).toEqual([rows[0]]);
    expect(ownedRows(readAccess(principal(['payments:read'], 'b'), SCOPES), rows)).toEqual([rows[1]]);
    expect(ownedRows(readAccess(principal([], 'a:b'), SCOPES), rows)).toEqual([rows[2]]);
    expect(ownedRows(readAccess(principal([], 'c'), SCOPES), rows)).toBeUndefined();
    expect(ownedRows(readAccess(principal([], 'a'), SCOPES), [])).toBeUndefined();
  });

  test('anyone else gets 403 before any row is looked at', () => {
    let thrown: unknown;
    try {
      readAccess(principal(['balances:read']), SCOPES);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(Problem);
    expect((thrown as Problem).status).toBe(403);
  });
});

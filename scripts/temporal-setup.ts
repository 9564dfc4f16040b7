/**
 * Registers the PaymentOrder search attributes on a Temporal cluster (idempotent): the one-shot
 * setup container of docker-compose.yml and the k8s setup Job. The dev server of scripts/stack
 * gets them from its --search-attribute flags instead. Waits (bounded) for the cluster to answer.
 *
 *   TEMPORAL_ADDRESS=temporal:7233 node --import tsx scripts/temporal-setup.ts
 */
import { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { loadConfigOrExit } from '../config/config';
import { ALL_SEARCH_ATTRIBUTES } from '../workflows/contracts';

const INDEXED: Partial<Record<SearchAttributeType, temporal.api.enums.v1.IndexedValueType>> = {
  [SearchAttributeType.KEYWORD]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.INT]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
};

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS, connectTimeout: 5_000 });
      try {
        const namespace = config.TEMPORAL_NAMESPACE;
        const existing = await connection.operatorService.listSearchAttributes({ namespace });
        const missing = ALL_SEARCH_ATTRIBUTES.filter((key) => !(key.name in (existing.customAttributes ?? {})));
        if (missing.length > 0) {
          await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED[key.type]!])) });
        }
        console.log(`temporal-setup: ${missing.length === 0 ? 'search attributes present' : `registered ${missing.map((k) => k.name).join(', ')}`} on namespace ${namespace}`);
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
}

main().catch((err: unknown) => {
  console.error(`temporal-setup: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

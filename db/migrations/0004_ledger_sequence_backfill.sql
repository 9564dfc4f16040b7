-- Journal entries written before ledger batches had sequence numbers: give each existing batch its
-- place in its stream's sequence (in commit order, i.e. by its first posting id), mark it
-- published (the old ledger completed a batch only once Kafka acknowledged it), and set each
-- stream's head. Consumers rebuild balances from Postgres when they first meet sequenced events.
INSERT INTO ledger_batches (id, stream_id, seq, entry_count, created_at, published_at)
SELECT batch_id, seller_id,
       row_number() OVER (PARTITION BY seller_id ORDER BY first_posting),
       entries, created_at, now()
  FROM (SELECT je.batch_id, je.seller_id, min(p.id) AS first_posting, count(DISTINCT je.id)::int AS entries, min(je.created_at) AS created_at
          FROM journal_entries je JOIN postings p ON p.journal_entry_id = je.id
         GROUP BY je.batch_id, je.seller_id) AS b
ON CONFLICT DO NOTHING;
--> statement-breakpoint
INSERT INTO ledger_streams (stream_id, last_seq)
SELECT stream_id, max(seq) FROM ledger_batches GROUP BY stream_id
ON CONFLICT (stream_id) DO UPDATE SET last_seq = greatest(ledger_streams.last_seq, excluded.last_seq);

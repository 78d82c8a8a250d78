-- When the indexer marked a message indexed (unix micros, the marking
-- process's clock). A query-scoped hold or retention rule covers what the
-- search index returned; a retention run trusts that answer only for
-- messages indexed before its queries ran (issue 13.1). Messages indexed
-- by an earlier release count as indexed long ago.
ALTER TABLE messages ADD COLUMN indexed_at BIGINT;
UPDATE messages SET indexed_at = 0 WHERE indexed = 1;

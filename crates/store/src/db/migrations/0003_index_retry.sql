-- A message the indexer could not load (a storage timeout, a blob it could
-- not read) is retried with backoff instead of being marked indexed: only
-- a confirmed disposal may be skipped (issue 13.2).
ALTER TABLE messages ADD COLUMN index_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN index_retry_at BIGINT;

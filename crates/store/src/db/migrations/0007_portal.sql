-- The secure portal (issue 14). Nothing here is PHI in the clear: a
-- recipient is known by a keyed lookup hash of tenant and address, a
-- session by the SHA-256 of its cookie, a code by a keyed hash.
--
-- A pickup learns its recipient's address hash (filled when the pickup is
-- made, and for links sent before this migration when they are first used),
-- when it was first opened, whether the sender retracted it, and when
-- the recipient was reminded that it expires.
ALTER TABLE portal_pickups ADD COLUMN address_hash BLOB;
ALTER TABLE portal_pickups ADD COLUMN opened_at BIGINT;
ALTER TABLE portal_pickups ADD COLUMN retracted_at BIGINT;
ALTER TABLE portal_pickups ADD COLUMN reminded_at BIGINT;
CREATE INDEX portal_pickups_by_address ON portal_pickups (tenant_id, address_hash);
CREATE INDEX portal_pickups_by_recipient ON portal_pickups (tenant_id, recipient_id);
-- A browser's session: pending (came through a link) or signed in.
CREATE TABLE portal_sessions (id_hash BLOB PRIMARY KEY, tenant_id TEXT NOT NULL, address_hash BLOB NOT NULL, entry_hash BLOB NOT NULL, signed_in BIGINT NOT NULL, created_at BIGINT NOT NULL, seen_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);
CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_at);
-- A recipient's sign-in state: the current one-time code (hash, expiry,
-- tries left), codes sent in the current hour, failures and lockout.
-- `version` makes every change conditional on what was read.
CREATE TABLE portal_recipients (tenant_id TEXT NOT NULL, address_hash BLOB NOT NULL, code_hash BLOB, code_expires_at BIGINT NOT NULL, code_tries BIGINT NOT NULL, window_start BIGINT NOT NULL, codes_in_window BIGINT NOT NULL, failures BIGINT NOT NULL, locked_until BIGINT NOT NULL, version BIGINT NOT NULL, PRIMARY KEY (tenant_id, address_hash));

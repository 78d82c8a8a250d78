//! Read queries. Every query that touches tenant data filters by tenant id:
//! that filter is the isolation boundary (R-ID-1), so there is no
//! "by id alone" lookup for messages, keys or queue entries.

use sealpost_audit::{ChainHead, Checkpoint, StoredEvent};
use sealpost_model::{ApiKeyId, Category, EventId, MessageId, RecipientId, Role, Scope, TenantId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::records::*;
use crate::{Store, StoreError};

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn tenant_of(row: &AnyRow) -> Result<TenantId, StoreError> {
    TenantId::parse(&row.try_get::<String, _>("tenant_id")?).map_err(|_| corrupt("tenant id"))
}

fn message_from(row: &AnyRow) -> Result<MessageRecord, StoreError> {
    Ok(MessageRecord {
        id: MessageId::parse(&row.try_get::<String, _>("id")?).map_err(|_| corrupt("message id"))?,
        tenant: tenant_of(row)?,
        created_at: row.try_get("created_at")?,
        source: Source::parse(&row.try_get::<String, _>("source")?).ok_or_else(|| corrupt("source"))?,
        category: Category::parse(&row.try_get::<String, _>("category")?).map_err(|_| corrupt("category"))?,
        size: row.try_get("size")?,
        message_date: row.try_get::<Option<i64>, _>("message_date")?.unwrap_or_default(),
        kek_version: row.try_get("kek_version")?,
        wrapped_dek: row.try_get("wrapped_dek")?,
        sealed_meta: row.try_get("sealed_meta")?,
        blob_ref: row.try_get("blob_ref")?,
        state: row.try_get("state")?,
    })
}

/// A `(tenant_id, id)` row of `messages`.
fn tenant_and_message(row: &AnyRow) -> Result<(TenantId, MessageId), StoreError> {
    let id = MessageId::parse(&row.try_get::<String, _>("id")?).map_err(|_| corrupt("message id"))?;
    Ok((tenant_of(row)?, id))
}

const PICKUP_COLUMNS: &str = "token_hash, tenant_id, message_id, recipient_id, created_at, expires_at, address_hash, opened_at, retracted_at, \
     reminded_at";

fn pickup_from(r: &AnyRow) -> Result<PortalPickup, StoreError> {
    Ok(PortalPickup {
        token_hash: r.try_get("token_hash")?,
        tenant: tenant_of(r)?,
        message: MessageId::parse(&r.try_get::<String, _>("message_id")?).map_err(|_| corrupt("message id"))?,
        recipient: RecipientId::parse(&r.try_get::<String, _>("recipient_id")?).map_err(|_| corrupt("recipient id"))?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        address_hash: r.try_get("address_hash")?,
        opened_at: r.try_get("opened_at")?,
        retracted_at: r.try_get("retracted_at")?,
        reminded_at: r.try_get("reminded_at")?,
    })
}

fn user_from(r: &AnyRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: UserId::parse(&r.try_get::<String, _>("id")?).map_err(|_| corrupt("user id"))?,
        tenant: tenant_of(r)?,
        username: r.try_get("username")?,
        password_hash: r.try_get("password_hash")?,
        role: Role::parse(&r.try_get::<String, _>("role")?).map_err(|_| corrupt("role"))?,
    })
}

fn api_key_from(row: &AnyRow) -> Result<ApiKeyRecord, StoreError> {
    let scopes: String = row.try_get("scopes")?;
    Ok(ApiKeyRecord {
        id: ApiKeyId::parse(&row.try_get::<String, _>("id")?).map_err(|_| corrupt("api key id"))?,
        tenant: tenant_of(row)?,
        name: row.try_get("name")?,
        verifier: row.try_get("verifier")?,
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(Scope::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| corrupt("scopes"))?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        user: row
            .try_get::<Option<String>, _>("user_id")?
            .map(|u| UserId::parse(&u).map_err(|_| corrupt("api key user")))
            .transpose()?,
    })
}

fn event_from(row: &AnyRow) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        at_micros: row.try_get("at_micros")?,
        tenant: row.try_get("tenant_id")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

const MESSAGE_COLUMNS: &str = "id, tenant_id, created_at, source, category, size, kek_version, wrapped_dek, sealed_meta, blob_ref, state, \
     message_date";

impl Store {
    /// A tenant, if it exists.
    pub async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM tenants WHERE id = $1")
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.db().pool)
            .await?;
        row.map(|r| {
            Ok(TenantRecord {
                id: TenantId::parse(&r.try_get::<String, _>("id")?).map_err(|_| corrupt("tenant id"))?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// All tenant ids.
    pub async fn tenant_ids(&self) -> Result<Vec<TenantId>, StoreError> {
        let rows = sqlx::query("SELECT id FROM tenants ORDER BY id").fetch_all(&self.db().pool).await?;
        rows.iter().map(|r| TenantId::parse(&r.try_get::<String, _>("id")?).map_err(|_| corrupt("tenant id"))).collect()
    }

    /// Every KEK version of a tenant, oldest first.
    pub async fn keks(&self, tenant: &TenantId) -> Result<Vec<KekRecord>, StoreError> {
        let rows = sqlx::query("SELECT version, wrapped FROM tenant_keys WHERE tenant_id = $1 ORDER BY version")
            .bind(tenant.as_str().to_owned())
            .fetch_all(&self.db().pool)
            .await?;
        rows.iter().map(|r| Ok(KekRecord { version: r.try_get("version")?, wrapped: r.try_get("wrapped")? })).collect()
    }

    /// A user by id, within `tenant` (another tenant's user is not found).
    pub async fn user(&self, tenant: &TenantId, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, username, password_hash, role FROM users WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str().to_owned())
        .bind(id.to_string())
        .fetch_optional(&self.db().pool)
        .await?;
        row.as_ref().map(user_from).transpose()
    }

    /// A user by login name.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query("SELECT id, tenant_id, username, password_hash, role FROM users WHERE username = $1")
            .bind(username.to_owned())
            .fetch_optional(&self.db().pool)
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    /// An API key by its public id (any tenant: the key itself names its tenant).
    pub async fn api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, name, verifier, scopes, created_at, revoked_at, user_id FROM api_keys WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.db().pool)
        .await?;
        row.as_ref().map(api_key_from).transpose()
    }

    /// A tenant's API keys.
    pub async fn api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, name, verifier, scopes, created_at, revoked_at, user_id FROM api_keys WHERE tenant_id = $1 ORDER BY created_at",
        )
        .bind(tenant.as_str().to_owned())
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter().map(api_key_from).collect()
    }

    /// A message of `tenant`. Another tenant's id is simply not found.
    pub async fn message(&self, tenant: &TenantId, id: &MessageId) -> Result<Option<MessageRecord>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_owned())
            .bind(id.to_string())
            .fetch_optional(&self.db().pool)
            .await?;
        row.as_ref().map(message_from).transpose()
    }

    /// A page of a tenant's messages by id order, for key rotation and listings.
    pub async fn messages_after(
        &self,
        tenant: &TenantId,
        after: Option<&MessageId>,
        limit: i64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let sql =
            format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_owned())
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(limit)
            .fetch_all(&self.db().pool)
            .await?;
        rows.iter().map(message_from).collect()
    }

    /// Up to `limit` messages not yet in the search index, oldest first.
    pub async fn unindexed(&self, limit: i64) -> Result<Vec<(TenantId, MessageId)>, StoreError> {
        // A message whose load failed waits for its retry time (backoff).
        let rows = sqlx::query(
            "SELECT tenant_id, id FROM messages WHERE indexed = 0 \
             AND (index_retry_at IS NULL OR index_retry_at <= $2) ORDER BY created_at, id LIMIT $1",
        )
        .bind(limit)
        .bind(sealpost_model::now_micros())
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter().map(tenant_and_message).collect()
    }

    /// Index lag: live messages not in the search index yet, how many of
    /// them wait for a retry after a failed load, and the oldest one's
    /// acceptance time.
    pub async fn index_lag(&self) -> Result<IndexLag, StoreError> {
        let row = sqlx::query(
            "SELECT count(*), COALESCE(SUM(CASE WHEN index_attempts > 0 THEN 1 ELSE 0 END), 0), MIN(created_at) \
             FROM messages WHERE indexed = 0",
        )
        .fetch_one(&self.db().pool)
        .await?;
        Ok(IndexLag { unindexed: row.try_get(0)?, retrying: row.try_get(1)?, oldest_created_at: row.try_get(2)? })
    }

    /// Up to `limit` disposed messages still in the search index.
    pub async fn disposed_but_indexed(&self, limit: i64) -> Result<Vec<(TenantId, MessageId)>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant_id, id FROM messages WHERE disposed_at IS NOT NULL AND indexed = 1 ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter().map(tenant_and_message).collect()
    }

    /// A logged search of the tenant.
    pub async fn search_log(&self, tenant: &TenantId, id: &EventId) -> Result<Option<SearchLogRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, actor, at_micros, sealed FROM search_log WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str().to_owned())
        .bind(id.to_string())
        .fetch_optional(&self.db().pool)
        .await?;
        row.map(|r| {
            Ok(SearchLogRecord {
                id: EventId::parse(&r.try_get::<String, _>("id")?).map_err(|_| corrupt("search log id"))?,
                tenant: tenant_of(&r)?,
                actor: r.try_get("actor")?,
                at: r.try_get("at_micros")?,
                sealed: r.try_get("sealed")?,
            })
        })
        .transpose()
    }

    /// The tenant's message with this content hash, if one is stored.
    pub async fn message_with_hash(&self, tenant: &TenantId, hash: &[u8]) -> Result<Option<MessageId>, StoreError> {
        let row = sqlx::query("SELECT id FROM messages WHERE tenant_id = $1 AND content_hash = $2 LIMIT 1")
            .bind(tenant.as_str().to_owned())
            .bind(hash.to_vec())
            .fetch_optional(&self.db().pool)
            .await?;
        row.map(|r| MessageId::parse(&r.try_get::<String, _>("id")?).map_err(|_| corrupt("message id"))).transpose()
    }

    /// The queue entries (one per recipient) of a tenant's message.
    pub async fn recipients(&self, tenant: &TenantId, id: &MessageId) -> Result<Vec<QueueRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, rcpt_index, state, next_attempt_at, attempts, method, tls_version, tls_cipher, last_code \
             FROM queue WHERE tenant_id = $1 AND message_id = $2 ORDER BY rcpt_index",
        )
        .bind(tenant.as_str().to_owned())
        .bind(id.to_string())
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(QueueRecord {
                    id: RecipientId::parse(&r.try_get::<String, _>("id")?).map_err(|_| corrupt("recipient id"))?,
                    rcpt_index: r.try_get("rcpt_index")?,
                    state: r.try_get("state")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    attempts: r.try_get("attempts")?,
                    method: r.try_get("method")?,
                    tls_version: r.try_get("tls_version")?,
                    tls_cipher: r.try_get("tls_cipher")?,
                    last_code: r.try_get("last_code")?,
                })
            })
            .collect()
    }

    /// Delivery events of a tenant's message, oldest first.
    pub async fn recipient_events(
        &self,
        tenant: &TenantId,
        message: &MessageId,
    ) -> Result<Vec<RecipientEventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT recipient_id, event, at_micros, detail FROM recipient_events \
             WHERE tenant_id = $1 AND message_id = $2 ORDER BY at_micros, id",
        )
        .bind(tenant.as_str().to_owned())
        .bind(message.to_string())
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RecipientEventRecord {
                    recipient: RecipientId::parse(&r.try_get::<String, _>("recipient_id")?)
                        .map_err(|_| corrupt("recipient id"))?,
                    event: r.try_get("event")?,
                    at_micros: r.try_get("at_micros")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Whether an address (keyed hash) is on a tenant's suppression list.
    pub async fn is_suppressed(&self, tenant: &TenantId, address_hash: &[u8]) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 AS one FROM suppressions WHERE tenant_id = $1 AND address_hash = $2")
            .bind(tenant.as_str().to_owned())
            .bind(address_hash.to_vec())
            .fetch_optional(&self.db().pool)
            .await?
            .is_some())
    }

    /// A portal pickup by token hash, if it exists (expiry is the caller's check).
    pub async fn pickup(&self, token_hash: &[u8]) -> Result<Option<PortalPickup>, StoreError> {
        let sql = format!("SELECT {PICKUP_COLUMNS} FROM portal_pickups WHERE token_hash = $1");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(token_hash.to_vec()).fetch_optional(&self.db().pool).await?;
        row.as_ref().map(pickup_from).transpose()
    }

    /// A tenant's pickup for one recipient of one message, by the recipient's id.
    pub async fn pickup_of_recipient(
        &self,
        tenant: &TenantId,
        recipient: &RecipientId,
    ) -> Result<Option<PortalPickup>, StoreError> {
        let sql = format!("SELECT {PICKUP_COLUMNS} FROM portal_pickups WHERE tenant_id = $1 AND recipient_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_owned())
            .bind(recipient.to_string())
            .fetch_optional(&self.db().pool)
            .await?;
        row.as_ref().map(pickup_from).transpose()
    }

    /// Every pickup of one address (by its keyed hash) in a tenant, newest first.
    pub async fn pickups_of_address(
        &self,
        tenant: &TenantId,
        address_hash: &[u8],
    ) -> Result<Vec<PortalPickup>, StoreError> {
        let sql = format!(
            "SELECT {PICKUP_COLUMNS} FROM portal_pickups WHERE tenant_id = $1 AND address_hash = $2 \
             ORDER BY created_at DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_owned())
            .bind(address_hash.to_vec())
            .fetch_all(&self.db().pool)
            .await?;
        rows.iter().map(pickup_from).collect()
    }

    /// Pickups of any tenant that expire between `now` and `until`, were
    /// never opened, retracted or reminded: due a reminder. At most `limit`.
    pub async fn pickups_due_reminder(
        &self,
        now: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<PortalPickup>, StoreError> {
        let sql = format!(
            "SELECT {PICKUP_COLUMNS} FROM portal_pickups WHERE expires_at > $1 AND expires_at <= $2 \
             AND opened_at IS NULL AND retracted_at IS NULL AND reminded_at IS NULL ORDER BY expires_at LIMIT $3"
        );
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(until).bind(limit).fetch_all(&self.db().pool).await?;
        rows.iter().map(pickup_from).collect()
    }

    /// Deletes portal sessions past their absolute end or idle since
    /// before `idle_before`. Returns how many.
    pub async fn prune_portal_sessions(&self, now: i64, idle_before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM portal_sessions WHERE expires_at <= $1 OR seen_at < $2")
            .bind(now)
            .bind(idle_before)
            .execute(&self.db().pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Every pickup of a message.
    pub async fn pickups_of_message(
        &self,
        tenant: &TenantId,
        message: &MessageId,
    ) -> Result<Vec<PortalPickup>, StoreError> {
        let sql = format!("SELECT {PICKUP_COLUMNS} FROM portal_pickups WHERE tenant_id = $1 AND message_id = $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_owned())
            .bind(message.to_string())
            .fetch_all(&self.db().pool)
            .await?;
        rows.iter().map(pickup_from).collect()
    }

    /// A portal session by the SHA-256 of its cookie.
    pub async fn portal_session(&self, id_hash: &[u8]) -> Result<Option<PortalSession>, StoreError> {
        let row = sqlx::query(
            "SELECT id_hash, tenant_id, address_hash, entry_hash, signed_in, created_at, seen_at, expires_at \
             FROM portal_sessions WHERE id_hash = $1",
        )
        .bind(id_hash.to_vec())
        .fetch_optional(&self.db().pool)
        .await?;
        row.map(|r| {
            Ok(PortalSession {
                id_hash: r.try_get("id_hash")?,
                tenant: tenant_of(&r)?,
                address_hash: r.try_get("address_hash")?,
                entry_hash: r.try_get("entry_hash")?,
                signed_in: r.try_get::<i64, _>("signed_in")? != 0,
                created_at: r.try_get("created_at")?,
                seen_at: r.try_get("seen_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// A portal recipient's sign-in state.
    pub async fn portal_recipient(
        &self,
        tenant: &TenantId,
        address_hash: &[u8],
    ) -> Result<Option<PortalRecipient>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant_id, address_hash, code_hash, code_expires_at, code_tries, window_start, codes_in_window, \
             failures, locked_until, version FROM portal_recipients WHERE tenant_id = $1 AND address_hash = $2",
        )
        .bind(tenant.as_str().to_owned())
        .bind(address_hash.to_vec())
        .fetch_optional(&self.db().pool)
        .await?;
        row.map(|r| {
            Ok(PortalRecipient {
                tenant: tenant_of(&r)?,
                address_hash: r.try_get("address_hash")?,
                code_hash: r.try_get("code_hash")?,
                code_expires_at: r.try_get("code_expires_at")?,
                code_tries: r.try_get("code_tries")?,
                window_start: r.try_get("window_start")?,
                codes_in_window: r.try_get("codes_in_window")?,
                failures: r.try_get("failures")?,
                locked_until: r.try_get("locked_until")?,
                version: r.try_get("version")?,
            })
        })
        .transpose()
    }

    /// Number of messages stored for a tenant.
    pub async fn message_count(&self, tenant: &TenantId) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM messages WHERE tenant_id = $1")
            .bind(tenant.as_str().to_owned())
            .fetch_one(&self.db().pool)
            .await?
            .try_get("n")?)
    }

    /// A stored idempotent response.
    pub async fn idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &[u8],
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant_id, key_hash, request_hash, response FROM idempotency WHERE tenant_id = $1 AND key_hash = $2",
        )
        .bind(tenant.as_str().to_owned())
        .bind(key_hash.to_vec())
        .fetch_optional(&self.db().pool)
        .await?;
        row.map(|r| {
            Ok(IdempotencyRecord {
                tenant: tenant_of(&r)?,
                key_hash: r.try_get("key_hash")?,
                request_hash: r.try_get("request_hash")?,
                response: r.try_get("response")?,
            })
        })
        .transpose()
    }

    /// A stored secret.
    pub async fn secret(&self, name: &str) -> Result<Option<SecretRecord>, StoreError> {
        let row = sqlx::query("SELECT name, sealed, public FROM secrets WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(&self.db().pool)
            .await?;
        row.map(|r| {
            Ok(SecretRecord { name: r.try_get("name")?, sealed: r.try_get("sealed")?, public: r.try_get("public")? })
        })
        .transpose()
    }

    /// Audit events with `seq > after`, in order, at most `limit`.
    pub async fn audit_events(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, id, at_micros, tenant_id, actor, action, target, outcome, detail, prev_hash, hash \
             FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter().map(event_from).collect()
    }

    /// Every signed checkpoint, in order.
    pub async fn audit_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query("SELECT seq, hash, at_micros, key_id, signature FROM audit_checkpoints ORDER BY seq")
            .fetch_all(&self.db().pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Checkpoint {
                    seq: r.try_get("seq")?,
                    hash: r.try_get("hash")?,
                    at_micros: r.try_get("at_micros")?,
                    key_id: r.try_get("key_id")?,
                    signature: r.try_get("signature")?,
                })
            })
            .collect()
    }

    /// The chain head (last seq and hash).
    pub async fn audit_head(&self) -> Result<ChainHead, StoreError> {
        let r = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&self.db().pool).await?;
        let hash: Vec<u8> = r.try_get("hash")?;
        Ok(ChainHead { seq: r.try_get("seq")?, hash: hash.try_into().map_err(|_| corrupt("audit head"))? })
    }

    /// Public keys that may sign checkpoints: `(key_id, public key)`.
    pub async fn audit_keys(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = sqlx::query("SELECT key_id, public_key FROM audit_keys ORDER BY created_at")
            .fetch_all(&self.db().pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("key_id")?, r.try_get("public_key")?))).collect()
    }

    /// Registers a checkpoint-signing public key (idempotent).
    pub async fn register_audit_key(&self, key_id: &str, public_key: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_keys (key_id, public_key, created_at) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(key_id.to_owned())
        .bind(public_key.to_vec())
        .bind(sealpost_model::now_micros())
        .execute(&self.db().pool)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` due recipients of one stream (transactional or
    /// marketing: separate queues, R-DL-4) — queued or deferred, next attempt
    /// reached, no live lease — for `owner` until `lease_until`. One statement
    /// on both databases; on PostgreSQL the outer lease condition is
    /// re-checked on the locked row, so concurrent nodes never claim the same row.
    pub async fn lease_due(
        &self,
        stream: Category,
        now: i64,
        lease_until: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<LeasedRecipient>, StoreError> {
        let rows = sqlx::query(
            "UPDATE queue SET lease_until = $1, lease_owner = $2 \
             WHERE id IN (SELECT id FROM queue WHERE stream = $5 AND state IN ('queued', 'deferred') \
                          AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
                          ORDER BY next_attempt_at LIMIT $4) \
               AND (lease_until IS NULL OR lease_until < $3) \
             RETURNING id, message_id, tenant_id, rcpt_index, attempts, delay_notified",
        )
        .bind(lease_until)
        .bind(owner.to_owned())
        .bind(now)
        .bind(limit)
        .bind(stream.as_str())
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LeasedRecipient {
                    id: RecipientId::parse(&r.try_get::<String, _>("id")?).map_err(|_| corrupt("recipient id"))?,
                    message_id: MessageId::parse(&r.try_get::<String, _>("message_id")?)
                        .map_err(|_| corrupt("message id"))?,
                    tenant: tenant_of(r)?,
                    rcpt_index: r.try_get("rcpt_index")?,
                    attempts: r.try_get("attempts")?,
                    delay_notified: r.try_get::<i64, _>("delay_notified")? != 0,
                })
            })
            .collect()
    }

    /// A tenant's DKIM keys for `domain`, newest first.
    pub async fn dkim_keys(&self, tenant: &TenantId, domain: &str) -> Result<Vec<DkimKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant_id, domain, selector, algorithm, sealed, public_dns, created_at, active FROM dkim_keys \
             WHERE tenant_id = $1 AND domain = $2 ORDER BY created_at DESC, selector",
        )
        .bind(tenant.as_str().to_owned())
        .bind(domain.to_ascii_lowercase())
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DkimKeyRecord {
                    tenant: tenant_of(r)?,
                    domain: r.try_get("domain")?,
                    selector: r.try_get("selector")?,
                    algorithm: r.try_get("algorithm")?,
                    sealed: r.try_get("sealed")?,
                    public_dns: r.try_get("public_dns")?,
                    created_at: r.try_get("created_at")?,
                    active: r.try_get::<i64, _>("active")? != 0,
                })
            })
            .collect()
    }

    /// A tenant's recipient keys for an address hash, or all of them (`None`), newest first.
    pub async fn recipient_keys(
        &self,
        tenant: &TenantId,
        address_hash: Option<&[u8]>,
    ) -> Result<Vec<RecipientKeyRecord>, StoreError> {
        let rows = match address_hash {
            Some(h) => {
                sqlx::query(
                    "SELECT id, tenant_id, address_hash, kind, fingerprint, sealed, created_at FROM recipient_keys \
                     WHERE tenant_id = $1 AND address_hash = $2 ORDER BY created_at DESC",
                )
                .bind(tenant.as_str().to_owned())
                .bind(h.to_vec())
                .fetch_all(&self.db().pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, tenant_id, address_hash, kind, fingerprint, sealed, created_at FROM recipient_keys \
                     WHERE tenant_id = $1 ORDER BY created_at DESC",
                )
                .bind(tenant.as_str().to_owned())
                .fetch_all(&self.db().pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(RecipientKeyRecord {
                    id: RecipientId::parse(&r.try_get::<String, _>("id")?).map_err(|_| corrupt("recipient key id"))?,
                    tenant: tenant_of(r)?,
                    address_hash: r.try_get("address_hash")?,
                    kind: r.try_get("kind")?,
                    fingerprint: r.try_get("fingerprint")?,
                    sealed: r.try_get("sealed")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// A tenant's sending domains, by domain.
    pub async fn sending_domains(&self, tenant: &TenantId) -> Result<Vec<SendingDomainRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant_id, domain, state, token, created_at, verified_at FROM sending_domains \
             WHERE tenant_id = $1 ORDER BY domain",
        )
        .bind(tenant.as_str().to_owned())
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter().map(sending_domain_from).collect()
    }

    /// The tenant that owns `domain` (verified or asserted), if any.
    pub async fn sending_domain_owner(&self, domain: &str) -> Result<Option<TenantId>, StoreError> {
        let row = sqlx::query("SELECT tenant_id FROM sending_domains WHERE domain = $1 AND state <> 'pending'")
            .bind(domain.to_owned())
            .fetch_optional(&self.db().pool)
            .await?;
        row.as_ref().map(tenant_of).transpose()
    }

    /// A tenant's active webhooks, or one by id (any tenant) when `id` is given.
    pub async fn webhooks(&self, tenant: &TenantId) -> Result<Vec<WebhookRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, url, sealed_secret, created_at FROM webhooks WHERE tenant_id = $1 AND active = 1 \
             ORDER BY created_at",
        )
        .bind(tenant.as_str().to_owned())
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter().map(webhook_from).collect()
    }

    /// A webhook by id (for the outbox worker; active or not).
    pub async fn webhook(&self, id: &str) -> Result<Option<WebhookRecord>, StoreError> {
        let row = sqlx::query("SELECT id, tenant_id, url, sealed_secret, created_at FROM webhooks WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&self.db().pool)
            .await?;
        row.as_ref().map(webhook_from).transpose()
    }

    /// Claims due outbox items until `lease_until` (same pattern as [`Store::lease_due`]).
    pub async fn lease_outbox(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(
            "UPDATE webhook_outbox SET lease_until = $1 \
             WHERE id IN (SELECT id FROM webhook_outbox WHERE state = 'pending' AND next_attempt_at <= $2 \
                          AND (lease_until IS NULL OR lease_until < $2) ORDER BY next_attempt_at LIMIT $3) \
               AND (lease_until IS NULL OR lease_until < $2) \
             RETURNING id, webhook_id, tenant_id, payload, attempts, created_at",
        )
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxItem {
                    id: r.try_get("id")?,
                    webhook: RecipientId::parse(&r.try_get::<String, _>("webhook_id")?)
                        .map_err(|_| corrupt("webhook id"))?,
                    tenant: tenant_of(r)?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}

fn id_of<T>(
    row: &AnyRow,
    column: &str,
    parse: impl Fn(&str) -> Result<T, sealpost_model::IdError>,
) -> Result<T, StoreError> {
    parse(&row.try_get::<String, _>(column)?).map_err(|_| corrupt(column))
}

fn retention_from(r: &AnyRow) -> Result<RetentionRecord, StoreError> {
    Ok(RetentionRecord {
        message: id_of(r, "id", MessageId::parse)?,
        message_date: r.try_get::<Option<i64>, _>("message_date")?.unwrap_or_default(),
        category: Category::parse(&r.try_get::<String, _>("category")?).map_err(|_| corrupt("category"))?,
        retain_until: r.try_get("retain_until")?,
        rule: r.try_get("retention_rule")?,
        action: r.try_get("retention_action")?,
        version: r.try_get("retention_version")?,
        extended_until: r.try_get("extended_until")?,
        disposed_at: r.try_get("disposed_at")?,
    })
}

const RETENTION_COLUMNS: &str = "id, message_date, category, retain_until, retention_rule, retention_action, retention_version, extended_until, disposed_at";

const HOLD_COLUMNS: &str = "id, tenant_id, name_hash, sealed, state, created_at, created_by, release_requested_by, \
     release_requested_at, released_by, released_at";

fn hold_from(r: &AnyRow) -> Result<HoldRecord, StoreError> {
    Ok(HoldRecord {
        id: id_of(r, "id", RecipientId::parse)?,
        tenant: tenant_of(r)?,
        name_hash: r.try_get("name_hash")?,
        sealed: r.try_get("sealed")?,
        state: r.try_get("state")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        release_requested_by: r.try_get("release_requested_by")?,
        release_requested_at: r.try_get("release_requested_at")?,
        released_by: r.try_get("released_by")?,
        released_at: r.try_get("released_at")?,
    })
}

/// Reads for retention, holds and disposal (R-AR-2..4).
impl Store {
    /// Up to `limit` live (not disposed) messages of `tenant` whose retention
    /// was never evaluated or was evaluated under another policy version, by
    /// id. With `indexed_before`, only messages the indexer marked indexed
    /// before that time (unix micros): the others wait for a later run.
    pub async fn retention_pending(
        &self,
        tenant: &TenantId,
        version: i64,
        after: Option<&MessageId>,
        limit: i64,
        indexed_before: Option<i64>,
    ) -> Result<Vec<MessageId>, StoreError> {
        // The page query walks the tenant's messages in id order; when
        // nothing is stale (the usual run) that walk would read them all, so
        // a first page starts with three index seeks that prove there is
        // something to find.
        if after.is_none() && !self.retention_stale_exists(tenant, version).await? {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT id FROM messages WHERE tenant_id = $1 AND disposed_at IS NULL AND id > $2 \
             AND (retention_version IS NULL OR retention_version <> $3) \
             AND ($5 IS NULL OR (indexed_at IS NOT NULL AND indexed_at < $5)) ORDER BY id LIMIT $4",
        )
        .bind(tenant.as_str().to_owned())
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(version)
        .bind(limit)
        .bind(indexed_before)
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter().map(|r| id_of(r, "id", MessageId::parse)).collect()
    }

    /// When the indexer marked one message indexed, if it has.
    pub async fn message_indexed_at(&self, tenant: &TenantId, id: &MessageId) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT indexed_at FROM messages WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str().to_owned())
            .bind(id.to_string())
            .fetch_optional(&self.db().pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get("indexed_at")?,
            None => None,
        })
    }

    /// Whether the indexer has marked any live message of `tenant` indexed
    /// (so a missing search index means "lost", not "nothing to hold yet").
    pub async fn any_indexed(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT count(*) FROM (SELECT 1 FROM messages WHERE tenant_id = $1 AND disposed_at IS NULL \
             AND indexed_at IS NOT NULL LIMIT 1) AS t",
        )
        .bind(tenant.as_str().to_owned())
        .fetch_one(&self.db().pool)
        .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// Whether any live message of `tenant` was never evaluated or was
    /// evaluated under a policy version other than `version`: one seek each
    /// in `messages_by_retention_version` for "none", "older" and "newer"
    /// (one `OR` of the three is planned as a scan of the tenant's rows).
    async fn retention_stale_exists(&self, tenant: &TenantId, version: i64) -> Result<bool, StoreError> {
        for test in ["IS NULL", "< $2", "> $2"] {
            let sql = format!(
                "SELECT id FROM messages WHERE tenant_id = $1 AND disposed_at IS NULL AND retention_version {test} LIMIT 1"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str().to_owned());
            if test != "IS NULL" {
                q = q.bind(version);
            }
            if q.fetch_optional(&self.db().pool).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Live messages of `tenant` whose retention ended at or before `now`
    /// (unix micros) and whose review extension (if any) has passed, by id
    /// after `after`, at most `limit`.
    pub async fn expired_messages(
        &self,
        tenant: &TenantId,
        now: i64,
        after: Option<&MessageId>,
        limit: i64,
    ) -> Result<Vec<RetentionRecord>, StoreError> {
        let sql = format!(
            "SELECT {RETENTION_COLUMNS} FROM messages WHERE tenant_id = $1 AND disposed_at IS NULL \
             AND retain_until IS NOT NULL AND retain_until <= $2 AND (extended_until IS NULL OR extended_until <= $2) \
             AND id > $3 ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_owned())
            .bind(now)
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(limit)
            .fetch_all(&self.db().pool)
            .await?;
        rows.iter().map(retention_from).collect()
    }

    /// Expired messages as [`Store::expired_messages`] selects them, with
    /// each message's row, in one query: what a retention run needs to
    /// dispose of a page (wrapped key and sealed metadata for the
    /// certificate and custodians, blob reference). Ordered by
    /// `(retain_until, id)` after `after`, the order of the
    /// `messages_expiry` index, so each page is one index range scan however
    /// deep the run is (an id order would sort every expired row per page).
    pub async fn expired_page(
        &self,
        tenant: &TenantId,
        now: i64,
        after: Option<(i64, MessageId)>,
        limit: i64,
    ) -> Result<Vec<ExpiredMessage>, StoreError> {
        let sql = format!(
            "SELECT {RETENTION_COLUMNS}, tenant_id, created_at, source, size, kek_version, wrapped_dek, sealed_meta, \
             blob_ref, state, indexed_at FROM messages WHERE tenant_id = $1 AND disposed_at IS NULL \
             AND retain_until IS NOT NULL AND retain_until <= $2 AND (extended_until IS NULL OR extended_until <= $2) \
             AND (retain_until, id) > ($3, $4) ORDER BY retain_until, id LIMIT $5"
        );
        let (until, id) = after.map_or((i64::MIN, String::new()), |(u, id)| (u, id.to_string()));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_owned())
            .bind(now)
            .bind(until)
            .bind(id)
            .bind(limit)
            .fetch_all(&self.db().pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ExpiredMessage {
                    retention: retention_from(r)?,
                    message: message_from(r)?,
                    indexed_at: r.try_get("indexed_at")?,
                })
            })
            .collect()
    }

    /// One message's retention state.
    pub async fn message_retention(
        &self,
        tenant: &TenantId,
        id: &MessageId,
    ) -> Result<Option<RetentionRecord>, StoreError> {
        let sql = format!("SELECT {RETENTION_COLUMNS} FROM messages WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_owned())
            .bind(id.to_string())
            .fetch_optional(&self.db().pool)
            .await?;
        row.as_ref().map(retention_from).transpose()
    }

    /// A tenant's holds, oldest first.
    pub async fn holds(&self, tenant: &TenantId) -> Result<Vec<HoldRecord>, StoreError> {
        let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE tenant_id = $1 ORDER BY created_at, id");
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str().to_owned()).fetch_all(&self.db().pool).await?;
        rows.iter().map(hold_from).collect()
    }

    /// A tenant's hold by id.
    pub async fn hold(&self, tenant: &TenantId, id: &RecipientId) -> Result<Option<HoldRecord>, StoreError> {
        let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_owned())
            .bind(id.to_string())
            .fetch_optional(&self.db().pool)
            .await?;
        row.as_ref().map(hold_from).transpose()
    }

    /// A tenant's hold by the keyed hash of its name.
    pub async fn hold_by_name(&self, tenant: &TenantId, name_hash: &[u8]) -> Result<Option<HoldRecord>, StoreError> {
        let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE tenant_id = $1 AND name_hash = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_owned())
            .bind(name_hash.to_vec())
            .fetch_optional(&self.db().pool)
            .await?;
        row.as_ref().map(hold_from).transpose()
    }

    /// The tenant's holds version: moves at every hold creation and release.
    pub async fn holds_version(&self, tenant: &TenantId) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT version FROM holds_version WHERE tenant_id = $1")
            .bind(tenant.as_str().to_owned())
            .fetch_optional(&self.db().pool)
            .await?;
        Ok(row.map(|r| r.try_get("version")).transpose()?.unwrap_or(0))
    }

    /// A tenant's disposal certificates, oldest first.
    pub async fn disposal_certificates(&self, tenant: &TenantId) -> Result<Vec<CertificateRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, message_id, sealed_sha256, rule, action, message_date, retain_until, disposed_at, \
             actor FROM disposal_certificates WHERE tenant_id = $1 ORDER BY disposed_at, id",
        )
        .bind(tenant.as_str().to_owned())
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CertificateRecord {
                    id: id_of(r, "id", RecipientId::parse)?,
                    tenant: tenant_of(r)?,
                    message: id_of(r, "message_id", MessageId::parse)?,
                    sealed_sha256: r.try_get("sealed_sha256")?,
                    rule: r.try_get("rule")?,
                    action: r.try_get("action")?,
                    message_date: r.try_get("message_date")?,
                    retain_until: r.try_get("retain_until")?,
                    disposed_at: r.try_get("disposed_at")?,
                    actor: r.try_get("actor")?,
                })
            })
            .collect()
    }

    /// Disposed messages of `tenant` whose blob is still to be deleted
    /// (a run stopped between the commit and the deletion): (id, blob ref).
    pub async fn disposed_blobs(&self, tenant: &TenantId, limit: i64) -> Result<Vec<(MessageId, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, blob_ref FROM messages WHERE tenant_id = $1 AND disposed_at IS NOT NULL AND blob_ref <> '' \
             ORDER BY id LIMIT $2",
        )
        .bind(tenant.as_str().to_owned())
        .bind(limit)
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter().map(|r| Ok((id_of(r, "id", MessageId::parse)?, r.try_get("blob_ref")?))).collect()
    }

    /// A tenant's stored attachment with this hash.
    pub async fn attachment(&self, tenant: &TenantId, hash: &[u8]) -> Result<Option<AttachmentRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT hash, kek_version, wrapped_key, blob_ref, size, refs FROM attachments \
             WHERE tenant_id = $1 AND hash = $2",
        )
        .bind(tenant.as_str().to_owned())
        .bind(hash.to_vec())
        .fetch_optional(&self.db().pool)
        .await?;
        row.as_ref().map(attachment_from).transpose()
    }

    /// A page of a tenant's attachments after `after` (by hash), for KEK rotation.
    pub async fn attachments_after(
        &self,
        tenant: &TenantId,
        after: &[u8],
        limit: i64,
    ) -> Result<Vec<AttachmentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT hash, kek_version, wrapped_key, blob_ref, size, refs FROM attachments \
             WHERE tenant_id = $1 AND hash > $2 ORDER BY hash LIMIT $3",
        )
        .bind(tenant.as_str().to_owned())
        .bind(after.to_vec())
        .bind(limit)
        .fetch_all(&self.db().pool)
        .await?;
        rows.iter().map(attachment_from).collect()
    }

    /// Blobs no row references any more (disposed messages', attachments
    /// disposed with their last message, copies sealed twice by a race), to
    /// be deleted; oldest first.
    pub async fn blob_garbage(&self, limit: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT blob_ref FROM blob_garbage ORDER BY at_micros, blob_ref LIMIT $1")
            .bind(limit)
            .fetch_all(&self.db().pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("blob_ref")?)).collect()
    }

    /// After disposal: on SQLite, moves the write-ahead log into the
    /// database and truncates it, so superseded pages holding shredded keys
    /// leave the WAL file (secure_delete zeroes them in the database). On
    /// PostgreSQL old row versions stay until VACUUM (docs/design/retention.md).
    pub async fn compact_after_disposal(&self) -> Result<(), StoreError> {
        if self.backend() == crate::Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").fetch_all(&self.db().pool).await?;
        }
        Ok(())
    }
}

fn sending_domain_from(r: &AnyRow) -> Result<SendingDomainRecord, StoreError> {
    Ok(SendingDomainRecord {
        tenant: tenant_of(r)?,
        domain: r.try_get("domain")?,
        state: SendingDomainState::parse(&r.try_get::<String, _>("state")?)
            .ok_or_else(|| corrupt("sending domain state"))?,
        token: r.try_get("token")?,
        created_at: r.try_get("created_at")?,
        verified_at: r.try_get("verified_at")?,
    })
}

fn webhook_from(r: &AnyRow) -> Result<WebhookRecord, StoreError> {
    Ok(WebhookRecord {
        id: RecipientId::parse(&r.try_get::<String, _>("id")?).map_err(|_| corrupt("webhook id"))?,
        tenant: tenant_of(r)?,
        url: r.try_get("url")?,
        sealed_secret: r.try_get("sealed_secret")?,
        created_at: r.try_get("created_at")?,
    })
}

fn access_request_from(r: &AnyRow) -> Result<AccessRequestRecord, StoreError> {
    Ok(AccessRequestRecord {
        id: EventId::parse(&r.try_get::<String, _>("id")?).map_err(|_| corrupt("access request id"))?,
        tenant: tenant_of(r)?,
        created_at: r.try_get("created_at")?,
        due_at: r.try_get("due_at")?,
        state: r.try_get("state")?,
        sealed: r.try_get("sealed")?,
        fulfilled_at: r.try_get("fulfilled_at")?,
        package_sha256: r.try_get("package_sha256")?,
    })
}

impl Store {
    /// A tenant's patient access requests, soonest due first; with
    /// `overdue_only`, only those not fulfilled whose due time is before `now`.
    pub async fn access_requests(
        &self,
        tenant: &TenantId,
        now: i64,
        overdue_only: bool,
    ) -> Result<Vec<AccessRequestRecord>, StoreError> {
        let query = if overdue_only {
            sqlx::query(
                "SELECT id, tenant_id, created_at, due_at, state, sealed, fulfilled_at, package_sha256 \
                 FROM access_requests WHERE tenant_id = $1 AND state <> 'fulfilled' AND due_at < $2 ORDER BY due_at, id",
            )
            .bind(tenant.as_str().to_owned())
            .bind(now)
        } else {
            sqlx::query(
                "SELECT id, tenant_id, created_at, due_at, state, sealed, fulfilled_at, package_sha256 \
                 FROM access_requests WHERE tenant_id = $1 ORDER BY due_at, id",
            )
            .bind(tenant.as_str().to_owned())
        };
        let rows = query.fetch_all(&self.db().pool).await?;
        rows.iter().map(access_request_from).collect()
    }

    /// One access request of the tenant.
    pub async fn access_request(
        &self,
        tenant: &TenantId,
        id: &EventId,
    ) -> Result<Option<AccessRequestRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, created_at, due_at, state, sealed, fulfilled_at, package_sha256 \
             FROM access_requests WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str().to_owned())
        .bind(id.to_string())
        .fetch_optional(&self.db().pool)
        .await?;
        row.as_ref().map(access_request_from).transpose()
    }
}

fn attachment_from(r: &AnyRow) -> Result<AttachmentRecord, StoreError> {
    Ok(AttachmentRecord {
        hash: r.try_get("hash")?,
        kek_version: r.try_get("kek_version")?,
        wrapped_key: r.try_get("wrapped_key")?,
        blob_ref: r.try_get("blob_ref")?,
        size: r.try_get("size")?,
        refs: r.try_get("refs")?,
    })
}

fn export_from(r: &AnyRow) -> Result<ExportRecord, StoreError> {
    let id = |column: &str| -> Result<EventId, StoreError> {
        EventId::parse(&r.try_get::<String, _>(column)?).map_err(|_| corrupt("export id"))
    };
    Ok(ExportRecord {
        id: id("id")?,
        tenant: tenant_of(r)?,
        actor: r.try_get("actor")?,
        query_id: id("query_id")?,
        format: r.try_get("format")?,
        count: r.try_get("count")?,
        state: r.try_get("state")?,
        sealed_ids: r.try_get("sealed_ids")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        bytes: r.try_get("bytes")?,
        package_sha256: r.try_get("package_sha256")?,
    })
}

impl Store {
    /// Every API export still `streaming` (all tenants): (tenant, id).
    pub async fn streaming_exports(&self) -> Result<Vec<(TenantId, EventId)>, StoreError> {
        let rows = sqlx::query("SELECT tenant_id, id FROM exports WHERE state = 'streaming' ORDER BY started_at")
            .fetch_all(&self.db().pool)
            .await?;
        rows.iter()
            .map(|r| {
                let id = EventId::parse(&r.try_get::<String, _>("id")?).map_err(|_| corrupt("export id"))?;
                Ok((tenant_of(r)?, id))
            })
            .collect()
    }

    /// One API export of the tenant.
    pub async fn export(&self, tenant: &TenantId, id: &EventId) -> Result<Option<ExportRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, actor, query_id, format, count, state, sealed_ids, started_at, finished_at, bytes, \
             package_sha256 FROM exports WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str().to_owned())
        .bind(id.to_string())
        .fetch_optional(&self.db().pool)
        .await?;
        row.as_ref().map(export_from).transpose()
    }
}

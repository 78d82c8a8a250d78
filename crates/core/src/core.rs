//! `Core`: what every service shares — the configuration, the data
//! directory, the store, the root key with the tenant key cache, and what
//! readiness knows. Nothing above the store's own state lives here: each
//! domain keeps its state in its own service.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sealpost_audit::{CheckpointSigner, NewEvent};
use sealpost_crypto::{Kek, RootKey};
use sealpost_model::TenantId;
use sealpost_store::{BlobConfig, Commit, Op, SecretRecord, Store, StoreConfig};
use tokio::sync::RwLock;

use crate::ServerError;
use crate::config::{BlobsConfig, Config, resolve, resolve_database_url};

/// Shared infrastructure, held by every service behind an `Arc`.
pub struct Core {
    /// The configuration in force.
    pub cfg: Config,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Storage.
    pub store: Store,
    root: RootKey,
    keks: RwLock<HashMap<TenantId, Arc<TenantKeys>>>,
    /// What readiness knows about the running server (workers, start).
    pub health: crate::health::Health,
}

/// A tenant's unwrapped KEKs, by version.
pub struct TenantKeys {
    /// The version new messages are wrapped under.
    pub current: i64,
    keks: HashMap<i64, Kek>,
    loaded: std::time::Instant,
}

/// Cached KEKs are reloaded after this long, so a rotation done by another
/// process or node is picked up for new messages.
const KEK_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl TenantKeys {
    /// The KEK of a given version.
    pub fn get(&self, version: i64) -> Option<&Kek> {
        self.keks.get(&version)
    }
    /// The current KEK.
    pub fn current(&self) -> Option<&Kek> {
        self.keks.get(&self.current)
    }
}

/// The reserved tenant id for installation-level audit events (failed logins
/// with unknown user names, server start and stop).
pub fn system_tenant() -> TenantId {
    TenantId::parse("system").expect("literal slug")
}

const AUDIT_SIGNING: &str = "audit-signing";

/// Reads the root key passphrase: `SEALPOST_ROOT_PASSPHRASE`, else the file.
pub fn read_passphrase(data_dir: &Path, cfg: &Config) -> Result<String, ServerError> {
    if let Ok(p) = std::env::var("SEALPOST_ROOT_PASSPHRASE") {
        return Ok(p);
    }
    let path = resolve(data_dir, &cfg.keys.passphrase_file);
    std::fs::read_to_string(&path).map(|s| s.trim_end_matches(['\r', '\n']).to_owned()).map_err(ServerError::io(
        format!("reading root key passphrase from {} (or set SEALPOST_ROOT_PASSPHRASE)", path.display()),
    ))
}

/// The passphrase file, when the passphrase is read from a file inside the
/// data directory: then a copy of that directory (a backup, a snapshot, a
/// stolen disk) holds both the root key and what unlocks it (issue 13.5).
/// `None` when `SEALPOST_ROOT_PASSPHRASE` supplies it or the file lies elsewhere.
pub fn passphrase_inside_data_dir(data_dir: &Path, cfg: &Config) -> Option<PathBuf> {
    if std::env::var_os("SEALPOST_ROOT_PASSPHRASE").is_some() {
        return None;
    }
    let file = resolve(data_dir, &cfg.keys.passphrase_file);
    let (dir, file) = (data_dir.canonicalize().ok()?, file.canonicalize().ok()?);
    file.starts_with(&dir).then_some(file)
}

/// The warning `serve` and `init` print for [`passphrase_inside_data_dir`].
pub fn passphrase_warning(file: &Path) -> String {
    format!(
        "WARNING: the root key passphrase is read from {}, inside the data directory: anyone with a copy of \
         this directory (a backup, a snapshot, a disk) can decrypt every message. Keep it apart: set \
         SEALPOST_ROOT_PASSPHRASE from a secrets manager or a systemd credential, or point \
         [keys] passphrase_file outside the data directory, then delete this file \
         (docs/configuration.md, \"Root key passphrase\").",
        file.display()
    )
}

fn store_config(data_dir: &Path, cfg: &Config) -> StoreConfig {
    let blobs = match &cfg.storage.blobs {
        BlobsConfig::Local { dir } => BlobConfig::Local { dir: resolve(data_dir, dir) },
        BlobsConfig::S3 { endpoint, bucket, region, access_key_id, secret_access_key, allow_http } => BlobConfig::S3 {
            endpoint: endpoint.clone(),
            bucket: bucket.clone(),
            region: region.clone(),
            access_key_id: access_key_id.clone(),
            secret_access_key: secret_access_key.clone(),
            allow_http: *allow_http,
        },
    };
    StoreConfig {
        database_url: resolve_database_url(data_dir, &cfg.storage.database_url),
        blobs,
        checkpoint_every: cfg.storage.audit_checkpoint_every,
    }
}

impl Core {
    /// Opens an initialized data directory: root key, store, audit signer.
    pub async fn open(data_dir: &Path, cfg: Config) -> Result<Arc<Core>, ServerError> {
        let key_path = resolve(data_dir, &cfg.keys.root_key_file);
        let key_file = std::fs::read(&key_path)
            .map_err(ServerError::io(format!("reading root key {} (run `sealpost init` first)", key_path.display())))?;
        let passphrase = read_passphrase(data_dir, &cfg)?;
        let root = tokio::task::spawn_blocking(move || RootKey::from_file(&key_file, &passphrase))
            .await
            .map_err(|e| ServerError::State(e.to_string()))??;
        let scfg = store_config(data_dir, &cfg);
        let signer = Self::audit_signer(&scfg, &root).await?;
        let store = Store::open(&scfg, Some(signer)).await?;
        Ok(Arc::new(Core {
            cfg,
            data_dir: data_dir.to_path_buf(),
            store,
            root,
            keks: RwLock::new(HashMap::new()),
            health: Default::default(),
        }))
    }

    /// Loads the checkpoint signing key, creating it on first use.
    async fn audit_signer(scfg: &StoreConfig, root: &RootKey) -> Result<CheckpointSigner, ServerError> {
        let store = Store::open(scfg, None).await?;
        let pkcs8 = match store.secret(AUDIT_SIGNING).await? {
            Some(s) => root.open_secret(AUDIT_SIGNING, &s.sealed)?.to_vec(),
            None => {
                let pkcs8 = CheckpointSigner::generate_pkcs8().map_err(|e| ServerError::State(e.to_string()))?;
                let signer = CheckpointSigner::new_from_pkcs8(&pkcs8).map_err(|e| ServerError::State(e.to_string()))?;
                let sealed = root.seal_secret(AUDIT_SIGNING, &pkcs8)?;
                let event = NewEvent::new(
                    system_tenant(),
                    sealpost_audit::Actor::system(),
                    sealpost_audit::Action::KeyCreated,
                    sealpost_audit::Outcome::Success,
                )
                .detail("key", sealpost_audit::DetailValue::Name("audit-signing"));
                store
                    .commit(Commit {
                        ops: vec![Op::PutSecret(SecretRecord {
                            name: AUDIT_SIGNING.into(),
                            sealed,
                            public: Some(signer.public_key()),
                        })],
                        events: vec![event],
                    })
                    .await?;
                pkcs8
            }
        };
        let signer = CheckpointSigner::new_from_pkcs8(&pkcs8).map_err(|e| ServerError::State(e.to_string()))?;
        store.register_audit_key(signer.key_id(), &signer.public_key()).await?;
        store.close().await;
        Ok(signer)
    }

    /// The tenant-keyed hash an email address is stored and looked up by
    /// (suppression list, recipient keys), so those tables hold no addresses.
    /// The one place addresses are normalized for it (lowercase).
    pub fn address_hash(&self, tenant: &TenantId, address: &str) -> Vec<u8> {
        self.root.lookup_hash(tenant.as_str(), address.to_lowercase().as_bytes())
    }

    /// The tenant-keyed hash of a message's SHA-256, stored to find
    /// duplicates (import) without a plain content hash in the database.
    pub fn content_hash(&self, tenant: &TenantId, sha256: &[u8]) -> Vec<u8> {
        self.root.lookup_hash(tenant.as_str(), &[b"content:".as_slice(), sha256].concat())
    }

    /// The root key, for wrapping new tenant KEKs.
    pub fn root(&self) -> &RootKey {
        &self.root
    }

    /// A tenant's KEKs, unwrapped and cached for a minute.
    pub async fn tenant_keys(&self, tenant: &TenantId) -> Result<Arc<TenantKeys>, ServerError> {
        if let Some(k) = self.keks.read().await.get(tenant)
            && k.loaded.elapsed() < KEK_CACHE_TTL
        {
            return Ok(k.clone());
        }
        self.load_tenant_keys(tenant).await
    }

    /// A tenant's KEKs including `version`: reloads once if the cache does
    /// not have it (rotated by another process since it was loaded).
    pub async fn tenant_keys_with(&self, tenant: &TenantId, version: i64) -> Result<Arc<TenantKeys>, ServerError> {
        let keys = self.tenant_keys(tenant).await?;
        if keys.get(version).is_some() { Ok(keys) } else { self.load_tenant_keys(tenant).await }
    }

    async fn load_tenant_keys(&self, tenant: &TenantId) -> Result<Arc<TenantKeys>, ServerError> {
        let records = self.store.keks(tenant).await?;
        let mut keks = HashMap::new();
        for r in &records {
            keks.insert(r.version, self.root.unwrap_kek(&r.wrapped, tenant.as_str(), r.version)?);
        }
        let current = records
            .iter()
            .map(|r| r.version)
            .max()
            .ok_or_else(|| ServerError::NotFound(format!("keys of tenant {tenant}")))?;
        let keys = Arc::new(TenantKeys { current, keks, loaded: std::time::Instant::now() });
        self.keks.write().await.insert(tenant.clone(), keys.clone());
        Ok(keys)
    }

    /// Forgets cached KEKs (after a rotation).
    pub async fn forget_tenant_keys(&self, tenant: &TenantId) {
        self.keks.write().await.remove(tenant);
    }

    /// Records audit events durably.
    pub async fn audit(&self, events: Vec<NewEvent>) -> Result<(), ServerError> {
        self.store.commit(Commit::events(events)).await?;
        Ok(())
    }
}

//! `sealpost init`: configuration, root key, TLS certificate, first tenant,
//! admin user and API key. `sealpost serve` runs it on a fresh data directory.

use std::path::{Path, PathBuf};

use sealpost_audit::Actor;
use sealpost_crypto::{RootKey, random_token};
use sealpost_model::{Role, Scope, TenantId};
use serde::Serialize;

use sealpost_core::ServerError;
use sealpost_core::config::{CONFIG_FILE, Config, resolve};
use sealpost_core::fsutil::write_private;
use sealpost_core::tls::ensure_certificate;
use sealpost_identity::generated_password;

use crate::Services;

/// What `init` created, printed once (`--json` gives exactly these keys).
#[derive(Debug, Serialize)]
pub struct InitOutput {
    /// Data directory.
    pub data_dir: PathBuf,
    /// First tenant.
    pub tenant: String,
    /// Admin user name.
    pub admin_user: String,
    /// Admin password (shown once; only its hash is stored).
    pub admin_password: String,
    /// API key with all scopes (shown once).
    pub api_key: String,
}

/// Whether the data directory already holds an installation.
pub fn is_initialized(data_dir: &Path) -> Result<bool, ServerError> {
    let cfg = Config::load(data_dir)?.unwrap_or_default();
    Ok(resolve(data_dir, &cfg.keys.root_key_file).exists())
}

/// Initializes `data_dir`. Uses an existing `sealpost.toml` if there is one.
pub async fn init(data_dir: &Path) -> Result<(Services, InitOutput), ServerError> {
    if is_initialized(data_dir)? {
        return Err(ServerError::State(format!("{} is already initialized", data_dir.display())));
    }
    std::fs::create_dir_all(data_dir).map_err(ServerError::io(format!("creating {}", data_dir.display())))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700));
    }
    let cfg = match Config::load(data_dir)? {
        Some(c) => c,
        None => {
            std::fs::write(data_dir.join(CONFIG_FILE), Config::default_file_text())
                .map_err(ServerError::io("writing sealpost.toml"))?;
            Config::load(data_dir)?.unwrap_or_default()
        }
    };
    let passphrase = match std::env::var("SEALPOST_ROOT_PASSPHRASE") {
        Ok(p) => p,
        Err(_) => {
            let p = random_token(32)?;
            write_private(&resolve(data_dir, &cfg.keys.passphrase_file), p.as_bytes())?;
            p
        }
    };
    let root = RootKey::generate()?;
    let file = tokio::task::spawn_blocking(move || root.to_file(&passphrase))
        .await
        .map_err(|e| ServerError::State(e.to_string()))??;
    write_private(&resolve(data_dir, &cfg.keys.root_key_file), &file)?;
    ensure_certificate(&resolve(data_dir, &cfg.tls.cert), &resolve(data_dir, &cfg.tls.key), &cfg.hostname)?;

    let app = Services::open(data_dir, cfg).await?;
    let tenant = TenantId::parse("default").map_err(|e| ServerError::State(e.to_string()))?;
    app.identity.create_tenant(&tenant, "Default organization", Actor::cli()).await?;
    let admin_password = generated_password()?;
    let admin = app.identity.create_user(&tenant, "admin", &admin_password, Role::Admin, Actor::cli()).await?;
    let scopes = vec![Scope::Send, Scope::ReadEvents, Scope::Admin];
    let (_, api_key) = app.identity.create_api_key(&tenant, "initial", scopes, Some(admin), Actor::cli()).await?;
    let out = InitOutput {
        data_dir: data_dir.to_path_buf(),
        tenant: tenant.to_string(),
        admin_user: "admin".into(),
        admin_password,
        api_key,
    };
    Ok((app, out))
}

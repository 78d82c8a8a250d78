//! The one context every command runs in: the data directory, its
//! configuration (read once) and the application (opened once, on first
//! use, so `init` and argument errors never touch the store).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use sealpost_core::config::{Config, resolve};
use sealpost_server::Services;

/// What a command is given: `--data`, and the application behind it.
pub struct Context {
    data: PathBuf,
    config: Option<Config>,
    app: Option<Services>,
}

impl Context {
    /// A context for the data directory `data`; nothing is read yet.
    pub fn new(data: PathBuf) -> Context {
        Context { data, config: None, app: None }
    }

    /// The data directory (`--data` / `SEALPOST_DATA`).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// `DATA/sealpost.toml` (the defaults when there is none), read once.
    fn config(&mut self) -> Result<&Config> {
        let cfg = match self.config.take() {
            Some(cfg) => cfg,
            None => Config::load(&self.data)?.unwrap_or_default(),
        };
        Ok(self.config.insert(cfg))
    }

    /// Whether the data directory holds an installation: its root key file
    /// exists (the test `sealpost_server::bootstrap::is_initialized` makes).
    pub fn is_initialized(&mut self) -> Result<bool> {
        let root_key_file = self.config()?.keys.root_key_file.clone();
        Ok(resolve(&self.data, &root_key_file).exists())
    }

    /// The application, opened on first use; an error naming `sealpost init`
    /// when the data directory is not initialized.
    pub async fn app(&mut self) -> Result<Services> {
        if let Some(app) = &self.app {
            return Ok(app.clone());
        }
        if !self.is_initialized()? {
            bail!("{} is not initialized: run `sealpost init` (or `sealpost serve`) first", self.data.display());
        }
        let cfg = self.config()?.clone();
        let app = Services::open(&self.data, cfg).await?;
        self.app = Some(app.clone());
        Ok(app)
    }

    /// Adopts an application opened elsewhere (by `init`), so that
    /// [`Context::close`] closes it.
    pub fn adopt(&mut self, app: Services) {
        self.app = Some(app);
    }

    /// Closes the store if a command opened it: pending commits finish
    /// first. Closing twice is harmless (`serve` closes on its own).
    pub async fn close(self) {
        if let Some(app) = self.app {
            app.core.store.close().await;
        }
    }
}

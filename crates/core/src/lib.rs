//! Sealpost's core: what every domain service stands on, and nothing that
//! belongs to one domain.
//!
//! * [`config`] — `sealpost.toml`;
//! * [`Core`] — the store, the root key and the tenant key cache, audit
//!   writes, and what readiness knows;
//! * [`settings::Settings`] — per-tenant settings (R-CL, R-DL-2);
//! * [`pipeline::Accept`] — classify, seal and commit an accepted message;
//! * [`access::MessageReader`] — audited reads of stored messages;
//! * [`keys::Keys`] — recipient keys, DKIM keys, KEK rotation;
//! * [`principal::Principal`] — an authenticated caller;
//! * [`senders::SendingDomains`] — the domains each tenant may send as,
//!   checked on every intake path;
//! * [`health`], [`telemetry`] — readiness and Prometheus metrics;
//! * [`limits`], [`tls`], [`destination`] — connection caps, the server
//!   certificate, and where outbound connections may go.
//!
//! Invariant: a listener acknowledges a message (SMTP 250, HTTP 202) only
//! with the id [`pipeline::Accept::accept`] returned, and `accept` returns
//! only after the group commit is durable.

pub mod access;
pub mod config;
mod core;
pub mod destination;
mod error;
pub mod fsutil;
pub mod health;
pub mod keys;
pub mod limits;
pub mod pipeline;
pub mod principal;
pub mod senders;
pub mod settings;
pub mod telemetry;
pub mod tls;
pub mod webhook_event;

pub use crate::core::{
    Core, TenantKeys, passphrase_inside_data_dir, passphrase_warning, read_passphrase, system_tenant,
};
pub use error::{InvalidInput, ServerError};

/// The keyed hash a portal recipient is known by in `tenant`: the same
/// address (compared without case) in another tenant is another recipient.
/// Stored instead of the address, which is PHI.
pub fn portal_address_hash(
    root: &sealpost_crypto::RootKey,
    tenant: &sealpost_model::TenantId,
    address: &str,
) -> Vec<u8> {
    root.lookup_hash(tenant.as_str(), format!("portal-address:{}", address.trim().to_lowercase()).as_bytes())
}

//! The archive (issue 4, R-AR-*): every stored message is indexed for
//! search (`index.rs`), kept as long as the longest applicable retention
//! rule says (`retention.rs`), preserved under legal holds (`holds.rs`),
//! disposed of by crypto-shredding when its time is up (`disposal.rs`),
//! and can be imported (`import.rs`) and exported (`export.rs`). Patient
//! access requests (`access.rs`, R-AR-7) search and export a patient's
//! designated record set.

pub mod access;
pub mod disposal;
pub mod error;
pub mod export;
pub mod facts;
pub mod holds;
pub mod import;
pub mod index;
pub mod operational;
pub mod retention;
pub mod review;

use std::sync::Arc;

use sealpost_core::Core;
use sealpost_core::access::MessageReader;
use sealpost_core::pipeline::Accept;
use sealpost_core::settings::Settings;

/// The archive service: it alone holds the open search indexes.
pub struct Archive {
    core: Arc<Core>,
    settings: Arc<Settings>,
    reader: Arc<MessageReader>,
    accept: Arc<Accept>,
    index: Arc<index::Index>,
}

impl Archive {
    /// Builds the service.
    pub fn new(
        core: Arc<Core>,
        settings: Arc<Settings>,
        reader: Arc<MessageReader>,
        accept: Arc<Accept>,
    ) -> Arc<Archive> {
        let index = index::Index::new(core.clone(), settings.clone(), reader.clone());
        Arc::new(Archive { core, settings, reader, accept, index })
    }
}

/// The index, seen from the archive: hold terms resolved by the archive's
/// holds, retention evaluated by its policy.
impl Archive {
    /// Makes this process the indexer (called by `serve`).
    pub fn become_indexer(&self) {
        self.index.become_indexer();
    }

    /// Runs the indexer until the task is dropped.
    pub async fn run_indexer(self: Arc<Self>) {
        self.index.clone().run_indexer(self).await
    }

    /// Indexes up to one batch of messages; returns how many were processed.
    pub async fn index_pending(&self) -> Result<usize, sealpost_core::ServerError> {
        self.index.index_pending(self).await
    }

    /// See [`index::Index::purge_settled`].
    pub async fn purge_settled(&self) -> Result<(), sealpost_core::ServerError> {
        self.index.purge_settled().await
    }

    /// One page of `tenant`'s messages matching `query`, audited for `actor`.
    pub async fn search(
        &self,
        tenant: &sealpost_model::TenantId,
        actor: sealpost_audit::Actor,
        query: &str,
        page: usize,
        per_page: usize,
    ) -> Result<index::SearchResults, index::SearchFailure> {
        self.index.search(tenant, actor, query, page, per_page, self).await
    }

    /// The query text of a logged search (for auditors), itself audited.
    pub async fn logged_query(
        &self,
        tenant: &sealpost_model::TenantId,
        actor: sealpost_audit::Actor,
        id: &sealpost_model::EventId,
    ) -> Result<String, sealpost_core::ServerError> {
        self.index.logged_query(tenant, actor, id).await
    }

    /// Ids of `tenant`'s messages matching `query`, `hold:NAME` included.
    pub async fn matching_ids(
        &self,
        tenant: &sealpost_model::TenantId,
        query: &str,
    ) -> Result<Vec<sealpost_model::MessageId>, sealpost_core::ServerError> {
        self.index.matching_ids(tenant, query, self).await
    }
}

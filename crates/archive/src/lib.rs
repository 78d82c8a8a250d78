//! The archive (issue 4, R-AR-*): every stored message is indexed for
//! search (`index.rs`), kept as long as the longest applicable retention
//! rule says (`retention.rs`), preserved under legal holds (`holds.rs`),
//! disposed of by crypto-shredding when its time is up (`disposal.rs`),
//! and can be imported (`import.rs`) and exported (`export.rs`). Patient
//! access requests (`access.rs`, R-AR-7) search and export a patient's
//! designated record set.

pub mod access;
pub mod disposal;
pub mod export;
pub mod holds;
pub mod import;
pub mod index;
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
    indexes: index::Indexes,
}

impl Archive {
    /// Builds the service.
    pub fn new(
        core: Arc<Core>,
        settings: Arc<Settings>,
        reader: Arc<MessageReader>,
        accept: Arc<Accept>,
    ) -> Arc<Archive> {
        Arc::new(Archive { core, settings, reader, accept, indexes: Default::default() })
    }
}

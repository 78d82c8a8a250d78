//! The search index (R-AR-5): one encrypted index per tenant, fed from
//! committed messages. (Interface first; the implementation lands with the
//! search crate.)

use sealpost_model::{MessageId, TenantId};

use crate::ServerError;
use crate::app::App;

impl App {
    /// Ids of `tenant`'s messages matching `query` (the search language of
    /// R-AR-5: `from:` … `hold:`), newest first, as of the index's last commit.
    pub async fn matching_ids(&self, tenant: &TenantId, query: &str) -> Result<Vec<MessageId>, ServerError> {
        let _ = (tenant, query);
        Err(ServerError::State("the search index is not available yet".into()))
    }

    /// Removes messages from `tenant`'s index and purges them from its files
    /// (after disposal, no index entry may remain).
    pub async fn unindex(&self, tenant: &TenantId, ids: &[MessageId]) -> Result<(), ServerError> {
        let _ = (tenant, ids);
        Ok(())
    }
}

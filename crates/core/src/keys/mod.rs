//! Keys a tenant manages: recipients' OpenPGP keys and S/MIME
//! certificates (R-EN-1), DKIM signing keys (R-DL-4), and the rotation of
//! the tenant KEK (R-EN-3).

mod dkim;
mod recipient;
mod rotation;

use std::sync::Arc;

use crate::Core;

pub use dkim::sign;
pub use recipient::*;

/// The key service.
pub struct Keys {
    core: Arc<Core>,
}

impl Keys {
    /// Builds the service.
    pub fn new(core: Arc<Core>) -> Arc<Keys> {
        Arc::new(Keys { core })
    }
}

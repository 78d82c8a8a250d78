//! Delivery-status callbacks, one file per provider: verify the signature
//! first, then parse.

pub(crate) mod twilio;
pub(crate) mod webhook;

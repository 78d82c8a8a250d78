//! The providers a text can go through, one file each.

pub(crate) mod twilio;
pub(crate) mod webhook;

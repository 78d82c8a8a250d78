//! Intake: the network edges that turn bytes into [`crate::pipeline::Submission`]s.

pub mod api;
pub mod limits;
pub mod smtp;

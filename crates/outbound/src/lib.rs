//! Outbound SMTP for delivery (R-DL-1, R-DL-4).
//!
//! * [`mx`] — MX resolution with preference order, implicit MX and null MX,
//!   against the system resolver or configured name servers (tests use a DNS
//!   server on loopback).
//! * [`client`] — an SMTP client that upgrades to TLS whenever the server
//!   offers STARTTLS and records what was *verified* (chain to a trusted root
//!   and valid for the MX name), so the caller can decide after the handshake
//!   whether a message may travel over this connection. It sends the message
//!   bytes exactly (dot-stuffed on the wire only).
//!
//! Invariant: this crate never decides what may be sent; it reports
//! [`client::TlsInfo`] and sends what it is given.

pub mod client;
pub mod mx;
mod tls;

pub use client::{ConnectOptions, Connection, OutboundError, RcptOutcome, Reply, SendOutcome, TlsInfo};
pub use mx::{MxError, MxHost, MxResolver};
pub use tls::TlsClient;

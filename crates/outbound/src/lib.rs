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
//! * [`dane`] — DANE (RFC 7672): TLSA lookups that report DNSSEC
//!   authentication (trusted only from configured resolvers), and matching
//!   of TLSA records against the presented chain; a usable TLSA record
//!   decides `verified` instead of WebPKI.
//! * [`mta_sts`] — MTA-STS (RFC 8461): policy parsing, discovery and cache;
//!   its module docs say how delivery applies a policy.
//! * [`wkd`] — OpenPGP Web Key Directory: recipients' keys fetched from
//!   their domain (returned as bytes, parsed by the caller).
//! * [`https`] — the HTTPS GET client both use (same name servers as [`mx`],
//!   WebPKI plus configured CAs, no redirects, size and time limits, and
//!   no connection to an internal address unless allowed).
//! * [`destination`] — which addresses outbound connections may go to:
//!   loopback, private, link-local, metadata… only when an [`AllowList`]
//!   names them (issue 13.10). Used by [`https`] here, and by the server for
//!   webhooks and MX hosts.
//!
//! Invariant: this crate never decides what may be sent; it reports
//! [`client::TlsInfo`] and sends what it is given.

pub mod client;
pub mod dane;
pub mod destination;
pub mod https;
pub mod mta_sts;
pub mod mx;
mod tls;
pub mod wkd;

pub use client::{ConnectOptions, Connection, OutboundError, RcptOutcome, Reply, SendOutcome, TlsInfo};
pub use dane::{DaneError, DaneResolver, Tlsa, TlsaLookup};
pub use destination::{AllowList, Refused};
pub use https::{HttpsError, HttpsFetcher, HttpsOptions, HttpsResponse};
pub use mta_sts::{Mode, MtaSts, MtaStsError, Policy, PolicyError, parse_policy};
pub use mx::{MxError, MxHost, MxResolver};
pub use tls::{TlsClient, trust_roots};
pub use wkd::{Wkd, WkdError, wkd_hash, wkd_urls};

//! Throwaway peers for Sealpost's tests, started by the tests themselves.
//!
//! * [`Postgres`]: a private PostgreSQL cluster (initdb + pg_ctl) in a
//!   tempdir on a free loopback port; [`shared_postgres`] gives one per test
//!   binary, with a database per test from [`Postgres::create_database`].
//! * [`S3`]: a moto S3 server on a free loopback port with a bucket;
//!   [`shared_s3`] gives one per test binary, with a bucket per test from
//!   [`S3::create_bucket`].
//! * [`free_port`], [`wait_for_port`], [`TcpProbe`] (counts connections
//!   made to it), [`DataDir`].
//! * Mail peers for the outbound client: [`PostfixReceiver`] (a private
//!   Postfix that receives into one Maildir, STARTTLS offered or not),
//!   [`ScriptedServer`] (a fake SMTP server playing fixed replies),
//!   [`DnsServer`] (A/AAAA/MX/TXT/TLSA from an in-memory [`Zone`], AD bit
//!   on request),
//!   [`StarttlsStripper`] (a man in the middle that hides STARTTLS),
//!   [`SmtpReceiver`] (an in-process receiver with STARTTLS, chosen EHLO
//!   keywords and per-session records), and [`TestCa`] / [`self_signed`]
//!   for certificates.
//! * [`HttpsServer`]: HTTPS with fixed [`Route`]s, for MTA-STS policy and WKD
//!   key fetches (and redirects a client must not follow).
//!
//! Nothing here depends on anything already running: the PostgreSQL binaries
//! come from the `postgresql` package, Postfix from `postfix` (its instances
//! need root), and moto from `.venv-test/`, all put there by
//! `scripts/setup-test-env.sh`.
//!
//! # Lifecycle
//!
//! Every server is stopped by `Drop`. Because a `static` is never dropped
//! (and a test binary may be killed), each server also has a *watchdog*
//! (module `watchdog`): a small `sh` in its own process group
//! that reads a pipe whose only write end this process holds. When the
//! process exits for any reason — normal exit, panic, `SIGKILL`, Ctrl-C — the
//! kernel closes that end, the watchdog reads EOF and stops the server and
//! removes its directory. So no cluster or moto outlives its test binary by
//! more than the time it takes to stop.
//!
//! ```no_run
//! let pg = sealpost_testkit::shared_postgres().unwrap();
//! let url = pg.fresh_database().unwrap();
//! assert!(url.starts_with("postgres://postgres@127.0.0.1:"));
//! ```

mod data_dir;
pub mod dns;
pub mod https;
pub mod mitm;
mod net;
pub mod pki;
pub mod postfix;
mod postgres;
pub mod receiver;
mod s3;
pub mod scripted;
pub mod sms;
mod watchdog;

pub use data_dir::DataDir;
pub use dns::{DnsServer, RecordData, Zone};
pub use https::{HttpsServer, Route};
pub use mitm::StarttlsStripper;
pub use net::{TcpProbe, free_port, wait_for_port};
pub use pki::{TestCa, self_signed, write_pem};
pub use postfix::{PostfixOptions, PostfixReceiver, Tls, received_tls, strip_trace_headers};
pub use postgres::{Postgres, shared_postgres};
pub use receiver::{ReceivedSession, ReceivedTxn, ReceiverOptions, SmtpReceiver};
pub use s3::{S3, shared_s3};
pub use scripted::{Script, ScriptedServer, Step, Transcript};
pub use sms::{FakeSmsProvider, RecordedSms, signed_twilio_status_callback, twilio_signature, webhook_signature};

/// Why a test peer could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The peer could not be set up; the message says what to do.
    #[error("{0}")]
    Setup(String),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// The repository root (where `.venv-test/` lives), known at compile time.
pub(crate) fn repo_root() -> std::path::PathBuf {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).unwrap_or(here).to_path_buf()
}

/// Whether this process runs as root (then PostgreSQL runs as `postgres`).
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

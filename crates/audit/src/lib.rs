//! Tamper-evident audit log logic for Sealpost (HIPAA § 164.312(b)); pure,
//! with no database.
//!
//! * Every security-relevant action is a [`NewEvent`]: ids, an [`Action`],
//!   an [`Outcome`], an [`Actor`] and a flat [`Detail`] — never PHI. The
//!   types make free text impossible: detail values are typed ids, counts,
//!   `&'static str` names, IPs or flags.
//! * [`chain`] turns events into [`StoredEvent`] rows (the columns of table
//!   `audit_events`) linked by SHA-256: each row's hash covers the previous
//!   hash and every column, in a domain-separated, version-tagged,
//!   length-prefixed encoding. All tenants share one chain.
//! * A [`CheckpointSigner`] periodically signs the [`ChainHead`] (Ed25519),
//!   so even a chain rewritten and rehashed from some point on is caught.
//! * [`verify`] finds any changed, removed, inserted or reordered event, a
//!   removed tail, or a forged checkpoint, and names the first bad one.
//! * [`to_json_line`] and [`to_csv_row`] export rows.
//!
//! ```
//! use sealpost_audit::*;
//! use sealpost_model::{MessageId, TenantId, UserId};
//!
//! let tenant = TenantId::parse("acme-health").unwrap();
//! let event = NewEvent::new(tenant, Actor::user(UserId::new()), Action::MessageAccessed, Outcome::Success)
//!     .target(MessageId::new())
//!     .detail("bytes", DetailValue::Count(1234));
//! let (mut rows, head) = chain(&ChainHead::genesis(), vec![event]);
//!
//! let signer = CheckpointSigner::new_from_pkcs8(&CheckpointSigner::generate_pkcs8().unwrap()).unwrap();
//! let checkpoint = signer.sign(&head, 1_714_564_800_000_000);
//! let keys = vec![(signer.key_id().to_owned(), signer.public_key())];
//!
//! let report = verify(rows.clone(), &[checkpoint.clone()], Some(&head), &keys);
//! assert!(report.is_ok());
//!
//! rows[0].outcome = "failure".into(); // tamper
//! let report = verify(rows, &[checkpoint], Some(&head), &keys);
//! let problem = report.problem().unwrap();
//! assert_eq!((problem.seq, problem.kind), (1, ProblemKind::Changed));
//! ```

#![warn(missing_docs)]

mod chain;
mod checkpoint;
mod event;
mod export;
mod verify;

pub use chain::{ChainHead, StoredEvent, chain, event_hash, genesis_hash};
pub use checkpoint::{Checkpoint, CheckpointSigner, KeyError, key_id};
pub use event::{Action, Actor, Detail, DetailValue, IdText, NewEvent, Outcome, UnknownValue};
pub use export::{CSV_HEADER, rfc3339_micros, to_csv_row, to_json_line};
pub use verify::{Problem, ProblemKind, VerifyReport, verify, verify_from};

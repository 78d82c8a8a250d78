//! What is kept about a message besides its bytes, sealed in the database:
//! envelope addresses and DSN parameters (RFC 3461), API tags and metadata.

use serde::{Deserialize, Serialize};

/// Sealed per-message metadata.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EnvelopeMeta {
    /// Envelope sender; None for the null path `<>`.
    pub mail_from: Option<String>,
    /// Envelope recipients in order (queue entries follow this order).
    pub recipients: Vec<RcptMeta>,
    /// SMTPUTF8 was requested.
    #[serde(default)]
    pub smtputf8: bool,
    /// BODY=8BITMIME was declared.
    #[serde(default)]
    pub eight_bit: bool,
    /// DSN RET (`FULL` or `HDRS`).
    #[serde(default)]
    pub dsn_ret: Option<String>,
    /// DSN ENVID.
    #[serde(default)]
    pub dsn_envid: Option<String>,
    /// API tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// API metadata (may hold PHI: it stays sealed).
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// SHA-256 (hex) of the original bytes, set when sealing.
    #[serde(default)]
    pub sha256: String,
    /// A notice Sealpost generated (portal notification, bounce): PHI-free by
    /// construction, so it may travel without encryption and never goes to the portal.
    #[serde(default)]
    pub notice: bool,
    /// REQUIRETLS (RFC 8689): relay only over verified TLS to servers that
    /// support REQUIRETLS, else bounce.
    #[serde(default)]
    pub require_tls: bool,
    /// The sender's policy for this message (API field `policy` or header
    /// `X-Sealpost-Policy`); overrides the tenant's and the domain's.
    #[serde(default)]
    pub policy: Option<crate::config::PolicyMode>,
    /// The person or mailbox whose mail this is, when an import names one
    /// (retention custodian rules and legal holds); otherwise the sender is.
    #[serde(default)]
    pub custodian: Option<String>,
    /// Attachments cut out of the stored blob (R-AR-1): where each goes
    /// back, in order. Empty when the blob is the whole message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub splices: Vec<SpliceMeta>,
}

/// Where a deduplicated attachment goes back into the stored skeleton.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpliceMeta {
    /// Byte offset into the skeleton.
    pub at: u64,
    /// The attachment's tenant-keyed hash, hex.
    pub hash: String,
    /// base64 characters per line.
    pub line_len: u32,
    /// CRLF (else LF) line breaks.
    pub crlf: bool,
}

/// How a recipient was addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RcptKind {
    /// To (or an SMTP envelope recipient).
    To,
    /// Cc.
    Cc,
    /// Bcc.
    Bcc,
}

/// One envelope recipient.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RcptMeta {
    /// Address.
    pub address: String,
    /// How it was addressed.
    pub kind: RcptKind,
    /// DSN NOTIFY (`NEVER` or a comma list).
    #[serde(default)]
    pub notify: Option<String>,
    /// DSN ORCPT.
    #[serde(default)]
    pub orcpt: Option<String>,
}

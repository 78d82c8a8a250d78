//! Request bodies, parsed strictly (unknown fields are errors) and then
//! validated into typed values with the offending field named.

use base64::Engine;
use sealpost_model::{Category, EmailAddress};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use sealpost_core::config::PolicyMode;

/// An address as `"a@b.org"` or `{"email": "a@b.org", "name": "A"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AddressField {
    /// Bare address.
    Bare(String),
    /// Address with display name.
    Named {
        /// The address.
        email: String,
        /// Display name.
        #[serde(default)]
        name: Option<String>,
    },
}

/// One or several addresses.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AddressList {
    /// A single address.
    One(AddressField),
    /// A list.
    Many(Vec<AddressField>),
}

impl Default for AddressList {
    fn default() -> Self {
        AddressList::Many(Vec::new())
    }
}

impl AddressList {
    fn items(&self) -> Vec<&AddressField> {
        match self {
            AddressList::One(a) => vec![a],
            AddressList::Many(v) => v.iter().collect(),
        }
    }
}

/// An attachment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentField {
    /// File name.
    pub filename: String,
    /// MIME type; default application/octet-stream.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Base64 content.
    pub content: String,
}

/// `POST /v1/messages` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// Sender.
    pub from: AddressField,
    /// To.
    #[serde(default)]
    pub to: AddressList,
    /// Cc.
    #[serde(default)]
    pub cc: AddressList,
    /// Bcc (envelope only).
    #[serde(default)]
    pub bcc: AddressList,
    /// Reply-To.
    #[serde(default)]
    pub reply_to: Option<AddressField>,
    /// Subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// Plain-text body.
    #[serde(default)]
    pub text: Option<String>,
    /// HTML body.
    #[serde(default)]
    pub html: Option<String>,
    /// Attachments.
    #[serde(default)]
    pub attachments: Vec<AttachmentField>,
    /// Template id (templates are not available yet: always an error).
    #[serde(default)]
    pub template_id: Option<String>,
    /// Template variables.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub variables: Option<serde_json::Value>,
    /// `transactional` or `marketing`; default: the tenant's category rules, else transactional.
    #[serde(default)]
    #[schema(value_type = Option<CategoryName>)]
    pub category: Option<String>,
    /// This message's delivery policy (R-DL-2), overriding the tenant's.
    #[serde(default)]
    #[schema(value_type = Option<PolicyName>)]
    pub policy: Option<String>,
    /// REQUIRETLS semantics (RFC 8689) for this message.
    #[serde(default)]
    pub require_tls: bool,
    /// Free tags (sealed).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free metadata (sealed).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// `POST /v1/messages/batch` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The messages.
    pub messages: Vec<MessageRequest>,
}

/// `POST /v1/messages/raw` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    /// Envelope sender.
    pub from: String,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// The RFC 5322 message, base64. Line ends are CRLF, or LF throughout
    /// (stored as CRLF); a mix of the two, or a bare CR, is refused.
    #[schema(content_encoding = "base64")]
    pub raw: String,
    /// Category; default from `X-Sealpost-Category`, then the tenant's rules, else transactional.
    #[serde(default)]
    #[schema(value_type = Option<CategoryName>)]
    pub category: Option<String>,
    /// Delivery policy; default from `X-Sealpost-Policy`, else the tenant's.
    #[serde(default)]
    #[schema(value_type = Option<PolicyName>)]
    pub policy: Option<String>,
    /// REQUIRETLS semantics (RFC 8689) for this message.
    #[serde(default)]
    pub require_tls: bool,
}

/// A message category, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CategoryName {
    /// Appointment reminders, results, bills: the default.
    Transactional,
    /// Mail that needs a marketing authorization.
    Marketing,
}

impl From<Category> for CategoryName {
    fn from(c: Category) -> Self {
        match c {
            Category::Transactional => CategoryName::Transactional,
            Category::Marketing => CategoryName::Marketing,
        }
    }
}

impl From<CategoryName> for Category {
    fn from(c: CategoryName) -> Self {
        match c {
            CategoryName::Transactional => Category::Transactional,
            CategoryName::Marketing => Category::Marketing,
        }
    }
}

/// A delivery policy mode (R-DL-2), as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyName {
    /// Strongest available; verified TLS is enough; else the portal.
    TlsPreferred,
    /// Only over verified TLS; otherwise fail without sending.
    TlsExclusive,
    /// Always hold for the portal and notify.
    PortalAlways,
    /// Never TLS alone: PGP, S/MIME or the portal.
    EncryptAlways,
}

impl From<PolicyMode> for PolicyName {
    fn from(p: PolicyMode) -> Self {
        match p {
            PolicyMode::TlsPreferred => PolicyName::TlsPreferred,
            PolicyMode::TlsExclusive => PolicyName::TlsExclusive,
            PolicyMode::PortalAlways => PolicyName::PortalAlways,
            PolicyMode::EncryptAlways => PolicyName::EncryptAlways,
        }
    }
}

impl From<PolicyName> for PolicyMode {
    fn from(p: PolicyName) -> Self {
        match p {
            PolicyName::TlsPreferred => PolicyMode::TlsPreferred,
            PolicyName::TlsExclusive => PolicyMode::TlsExclusive,
            PolicyName::PortalAlways => PolicyMode::PortalAlways,
            PolicyName::EncryptAlways => PolicyMode::EncryptAlways,
        }
    }
}

/// `{"id": …}`: the id of an accepted message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The message's id.
    pub id: String,
}

/// The ids of an accepted batch, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedBatch {
    /// One per message.
    pub messages: Vec<Accepted>,
}

/// A parsed address with an optional display name.
pub struct Named {
    /// Address.
    pub address: EmailAddress,
    /// Display name.
    pub name: Option<String>,
}

/// A parsed attachment.
pub struct Attachment {
    /// File name.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// Decoded bytes.
    pub content: Vec<u8>,
}

/// A fully validated `MessageRequest`.
pub struct ValidMessage {
    /// Sender.
    pub from: Named,
    /// To.
    pub to: Vec<Named>,
    /// Cc.
    pub cc: Vec<Named>,
    /// Bcc.
    pub bcc: Vec<Named>,
    /// Reply-To.
    pub reply_to: Option<Named>,
    /// Subject.
    pub subject: Option<String>,
    /// Text body.
    pub text: Option<String>,
    /// HTML body.
    pub html: Option<String>,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Category, if the request named one.
    pub category: Option<Category>,
    /// Delivery policy, if the request named one.
    pub policy: Option<PolicyMode>,
    /// REQUIRETLS requested.
    pub require_tls: bool,
    /// Tags.
    pub tags: Vec<String>,
    /// Metadata.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// Parses an address, naming `field` on failure.
pub fn parse_address(s: &str, field: &str) -> Result<EmailAddress, ApiError> {
    EmailAddress::parse(s.trim(), true).map_err(|e| ApiError::invalid("invalid_address", field, e.to_string()))
}

fn parse_named(a: &AddressField, field: &str) -> Result<Named, ApiError> {
    let (email, name) = match a {
        AddressField::Bare(e) => (e, None),
        AddressField::Named { email, name } => (email, name.clone()),
    };
    if name.as_deref().is_some_and(|n| n.contains(['\r', '\n'])) {
        return Err(ApiError::invalid("invalid_name", field, "display name must not contain line breaks"));
    }
    Ok(Named { address: parse_address(email, field)?, name })
}

fn parse_list(list: &AddressList, field: &str) -> Result<Vec<Named>, ApiError> {
    list.items().into_iter().enumerate().map(|(i, a)| parse_named(a, &format!("{field}[{i}]"))).collect()
}

/// Parses a policy mode name, naming `field` on failure.
pub fn parse_policy(c: Option<&str>, field: &str) -> Result<Option<PolicyMode>, ApiError> {
    c.map(|c| {
        PolicyMode::parse(c).ok_or_else(|| {
            ApiError::invalid(
                "unknown_policy",
                field,
                "expected tls-preferred, tls-exclusive, portal-always or encrypt-always",
            )
        })
    })
    .transpose()
}

/// Parses a category name, naming `field` on failure.
pub fn parse_category(c: Option<&str>, field: &str) -> Result<Option<Category>, ApiError> {
    c.map(|c| Category::parse(c).map_err(|e| ApiError::invalid("unknown_category", field, e.to_string()))).transpose()
}

/// Decodes standard base64 (padding optional, whitespace ignored).
pub fn decode_base64(s: &str, field: &str) -> Result<Vec<u8>, ApiError> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.trim_end_matches('=')))
        .map_err(|e| ApiError::invalid("invalid_base64", field, format!("not valid base64: {e}")))
}

impl MessageRequest {
    /// Validates every field; the first error names its field.
    pub fn validate(self, max_recipients: usize) -> Result<ValidMessage, ApiError> {
        if self.template_id.is_some() || self.variables.is_some() {
            return Err(ApiError::invalid("unknown_template", "template_id", "no such template"));
        }
        let from = parse_named(&self.from, "from")?;
        let to = parse_list(&self.to, "to")?;
        let cc = parse_list(&self.cc, "cc")?;
        let bcc = parse_list(&self.bcc, "bcc")?;
        let total = to.len() + cc.len() + bcc.len();
        if total == 0 {
            return Err(ApiError::invalid("no_recipients", "to", "at least one of to, cc or bcc is required"));
        }
        if total > max_recipients {
            return Err(ApiError::invalid("too_many_recipients", "to", format!("at most {max_recipients} recipients")));
        }
        let reply_to = self.reply_to.as_ref().map(|a| parse_named(a, "reply_to")).transpose()?;
        if self.subject.as_deref().is_some_and(|s| s.contains(['\r', '\n'])) {
            return Err(ApiError::invalid("invalid_subject", "subject", "subject must not contain line breaks"));
        }
        if self.text.is_none() && self.html.is_none() {
            return Err(ApiError::invalid("no_body", "text", "text or html is required"));
        }
        let attachments = self
            .attachments
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let field = format!("attachments[{i}]");
                if a.filename.is_empty() || a.filename.contains(['\r', '\n', '"', '/', '\\']) {
                    return Err(ApiError::invalid(
                        "invalid_filename",
                        format!("{field}.filename"),
                        "invalid file name",
                    ));
                }
                let content_type = a.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
                let valid_type = content_type.split_once('/').is_some_and(|(t, s)| {
                    !t.is_empty() && !s.is_empty() && content_type.bytes().all(|b| b.is_ascii_graphic() && b != b'"')
                });
                if !valid_type {
                    return Err(ApiError::invalid(
                        "invalid_content_type",
                        format!("{field}.content_type"),
                        "expected type/subtype",
                    ));
                }
                Ok(Attachment {
                    filename: a.filename.clone(),
                    content_type,
                    content: decode_base64(&a.content, &format!("{field}.content"))?,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(ValidMessage {
            from,
            to,
            cc,
            bcc,
            reply_to,
            subject: self.subject,
            text: self.text,
            html: self.html,
            attachments,
            category: parse_category(self.category.as_deref(), "category")?,
            policy: parse_policy(self.policy.as_deref(), "policy")?,
            require_tls: self.require_tls,
            tags: self.tags,
            metadata: self.metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> Result<ValidMessage, ApiError> {
        serde_json::from_str::<MessageRequest>(json).unwrap().validate(10)
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (r#"{"from":"bad","to":"a@b.org","text":"x"}"#, "from"),
            (r#"{"from":"a@b.org","to":["ok@b.org","no at"],"text":"x"}"#, "to[1]"),
            (r#"{"from":"a@b.org","to":"c@d.org","text":"x","category":"promo"}"#, "category"),
            (r#"{"from":"a@b.org","to":"c@d.org","text":"x","policy":"plaintext"}"#, "policy"),
            (
                r#"{"from":"a@b.org","to":"c@d.org","text":"x","attachments":[{"filename":"f.txt","content":"@@@"}]}"#,
                "attachments[0].content",
            ),
            (r#"{"from":"a@b.org","to":"c@d.org"}"#, "text"),
            (r#"{"from":"a@b.org","text":"x"}"#, "to"),
            (r#"{"from":"a@b.org","to":"c@d.org","text":"x","template_id":"t1"}"#, "template_id"),
        ];
        for (json, field) in cases {
            let err = req(json).err().unwrap_or_else(|| panic!("accepted: {json}"));
            let body = format!("{err:?}");
            assert!(body.contains(&format!("field: Some(\"{field}\")")), "{json} -> {body}");
        }
    }

    #[test]
    fn unknown_fields_are_rejected_by_the_parser() {
        assert!(serde_json::from_str::<MessageRequest>(r#"{"from":"a@b.org","tos":"c@d.org"}"#).is_err());
    }

    #[test]
    fn a_valid_request_decodes_attachments() {
        let m = req(r#"{"from":{"email":"a@b.org","name":"Clinic"},"to":"c@d.org","text":"x","attachments":[{"filename":"r.pdf","content_type":"application/pdf","content":"aGVsbG8="}]}"#).unwrap();
        assert_eq!(m.attachments[0].content, b"hello");
        assert_eq!(m.from.name.as_deref(), Some("Clinic"));
    }
}

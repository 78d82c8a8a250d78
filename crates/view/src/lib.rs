//! What the secure web portal shows of a stored message to its recipient.
//!
//! Takes the raw RFC 5322 bytes of a message (PHI) and turns them into what
//! a reader sees, safely:
//!
//! - [`view`]: headers, the text body, the HTML body already sanitised, and
//!   the list of attachments ([`MessageView`], [`AttachmentInfo`]).
//! - [`attachment`]: one attachment's bytes, exactly as the sender's file.
//! - [`inline_image`]: an image the HTML body shows through `cid:`; only
//!   PNG, JPEG, GIF and WebP, never SVG.
//! - [`sanitize_html`]: HTML made safe to embed in a page served with
//!   `Content-Security-Policy: default-src 'none'; img-src 'self';
//!   style-src 'self'` (ammonia, configured explicitly): no script, style,
//!   forms, frames or objects; images only from `cid:` parts, rewritten to
//!   the portal's URLs, so opening a message fetches nothing remote; links
//!   only http, https and mailto, with `rel="noopener noreferrer"`.
//! - [`content_disposition`]: the RFC 6266 header for a download, ASCII
//!   only, with the UTF-8 name in `filename*`.
//!
//! Nothing here logs, touches the network or keeps state: every function is
//! a pure function of its input bytes, so an attachment index handed out by
//! [`view`] names the same part in a later [`attachment`] call.
//!
//! ```
//! use sealpost_view::{Disposition, attachment, content_disposition, view};
//!
//! let raw = b"From: Dr A <a@clinic.example>\r\n\
//!     To: pat@example.org\r\n\
//!     Subject: Results\r\n\
//!     MIME-Version: 1.0\r\n\
//!     Content-Type: multipart/mixed; boundary=b\r\n\
//!     \r\n\
//!     --b\r\n\
//!     Content-Type: text/html\r\n\
//!     \r\n\
//!     <p>See <img src=\"https://t.example/p.gif\" alt=\"\">attached</p><script>x()</script>\r\n\
//!     --b\r\n\
//!     Content-Type: application/pdf; name=\"lab.pdf\"\r\n\
//!     Content-Disposition: attachment; filename=\"lab.pdf\"\r\n\
//!     Content-Transfer-Encoding: base64\r\n\
//!     \r\n\
//!     JVBERi0=\r\n\
//!     --b--\r\n";
//! let message = view(raw, &|cid| format!("/portal/cid/{cid}")).unwrap();
//! assert_eq!(message.subject.as_deref(), Some("Results"));
//! assert_eq!(message.html.as_deref(), Some("<p>See <img alt=\"\">attached</p>"));
//! let pdf = &message.attachments[0];
//! assert_eq!((pdf.filename.as_str(), pdf.content_type.as_str(), pdf.size), ("lab.pdf", "application/pdf", 5));
//!
//! let (info, bytes) = attachment(raw, pdf.index).unwrap();
//! assert_eq!(bytes, b"%PDF-");
//! assert_eq!(
//!     content_disposition(Disposition::Attachment, &info.filename),
//!     "attachment; filename=\"lab.pdf\"; filename*=UTF-8''lab.pdf"
//! );
//! ```

mod attachments;
mod content_type;
mod disposition;
mod error;
mod filename;
mod headers;
mod inline_image;
mod message;
mod sanitize;

pub use attachments::{AttachmentInfo, attachment};
pub use disposition::{Disposition, content_disposition};
pub use error::ViewError;
pub use headers::Mailbox;
pub use inline_image::inline_image;
pub use message::{MessageView, view};
pub use sanitize::sanitize_html;

//! The portal's pages and forms. Each handler finds the session, checks
//! what it may do, calls the portal service and renders a template.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use sealpost_model::RecipientId;
use sealpost_portal::{Current, Draft, DraftAttachment, PickupState, PortalError, SESSION_COOKIE};
use sealpost_view::{AttachmentInfo, Disposition};

use crate::i18n::{self, LANG_COOKIE, Texts};
use crate::{Web, cookie, same_origin};

/// What the base template shows around every page.
struct PageCtx {
    organisation: String,
    support: String,
    signed_in: bool,
    csrf: String,
    session_ends: String,
    main_id: &'static str,
}

impl PageCtx {
    fn anonymous() -> Self {
        PageCtx {
            organisation: String::new(),
            support: String::new(),
            signed_in: false,
            csrf: String::new(),
            session_ends: String::new(),
            main_id: "main",
        }
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage<'a> {
    t: &'a Texts,
    page: PageCtx,
    expires: String,
    error: String,
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage<'a> {
    t: &'a Texts,
    page: PageCtx,
    error: String,
}

struct InboxRow {
    reference: String,
    subject: String,
    from: String,
    received: String,
    expires: String,
    opened: bool,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage<'a> {
    t: &'a Texts,
    page: PageCtx,
    items: Vec<InboxRow>,
}

struct AttachmentRow {
    index: usize,
    filename: String,
    size: String,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    t: &'a Texts,
    page: PageCtx,
    reference: String,
    notice: String,
    subject: String,
    from: String,
    to: String,
    cc: String,
    date: String,
    expires: String,
    html: Option<String>,
    text: String,
    attachments: Vec<AttachmentRow>,
}

#[derive(Template)]
#[template(path = "reply.html")]
struct ReplyPage<'a> {
    t: &'a Texts,
    page: PageCtx,
    reference: String,
    subject: String,
    all: bool,
    body: String,
    error: String,
    max_size: String,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage<'a> {
    t: &'a Texts,
    page: PageCtx,
    title: String,
    text: String,
    resend: bool,
    link: String,
    link_text: String,
}

#[derive(Deserialize, Default)]
pub(crate) struct PageQuery {
    lang: Option<String>,
    all: Option<String>,
    sent: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// A request's language, session and the cookies to set on the answer.
struct Req {
    t: &'static Texts,
    session: Option<Current>,
    cookies: Vec<String>,
}

async fn req(web: &Web, headers: &HeaderMap, lang: Option<&str>) -> Result<Req, Response> {
    let (t, remember) = i18n::choose(lang, headers);
    let mut cookies = Vec::new();
    if remember {
        cookies.push(format!("{LANG_COOKIE}={}; Path=/; Secure; SameSite=Strict; Max-Age=31536000", t.lang));
    }
    let session = match cookie(headers, SESSION_COOKIE) {
        Some(c) => web.portal.session(&c).await.map_err(|e| failure(t, e))?,
        None => None,
    };
    Ok(Req { t, session, cookies })
}

fn session_cookie(value: &str) -> String {
    format!("{SESSION_COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

fn clear_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

fn respond(status: StatusCode, body: Result<String, askama::Error>, cookies: &[String]) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "rendering a portal page failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut r = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

fn redirect(to: &str, cookies: &[String]) -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

fn when(micros: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(micros / 1_000_000) else { return String::new() };
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.format(&f).unwrap_or_default()
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{} KB", b.div_ceil(1024)),
        b => format!("{b} B"),
    }
}

#[allow(clippy::too_many_arguments)]
fn notice(
    t: &Texts,
    status: StatusCode,
    page: PageCtx,
    title: &str,
    text: String,
    resend: bool,
    link: (&str, &str),
    cookies: &[String],
) -> Response {
    let p = NoticePage {
        t,
        page,
        title: title.to_owned(),
        text,
        resend,
        link: link.0.to_owned(),
        link_text: link.1.to_owned(),
    };
    respond(status, p.render(), cookies)
}

fn simple(
    t: &Texts,
    status: StatusCode,
    main_id: &'static str,
    title: &str,
    text: &str,
    cookies: &[String],
) -> Response {
    let page = PageCtx { main_id, ..PageCtx::anonymous() };
    notice(t, status, page, title, text.to_owned(), false, ("", ""), cookies)
}

/// A failure the page cannot handle itself.
fn failure(t: &Texts, e: PortalError) -> Response {
    match e {
        PortalError::NotFound => {
            let page = PageCtx { main_id: "not-found", ..PageCtx::anonymous() };
            let back = ("/portal/", t.back_to_inbox);
            notice(t, StatusCode::NOT_FOUND, page, t.not_found_title, t.not_found_text.to_owned(), false, back, &[])
        }
        PortalError::SignInRequired => redirect("/portal/", &[]),
        PortalError::Unavailable(state) => {
            let text = if state == PickupState::Retracted { t.retracted_text } else { t.expired_text };
            simple(t, StatusCode::GONE, "expired", t.expired_title, text, &[])
        }
        PortalError::Locked { until } => {
            let text = format!("{} {}.", t.locked_text, when(until));
            notice(
                t,
                StatusCode::FORBIDDEN,
                PageCtx { main_id: "locked", ..PageCtx::anonymous() },
                t.locked_title,
                text,
                false,
                ("", ""),
                &[],
            )
        }
        other => {
            tracing::warn!(error = %other, "portal request failed");
            let mut r = simple(t, StatusCode::SERVICE_UNAVAILABLE, "error", t.error_title, t.error_text, &[]);
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

fn forbidden(t: &Texts) -> Response {
    simple(t, StatusCode::FORBIDDEN, "forbidden", t.forbidden_title, t.forbidden_text, &[])
}

impl Web {
    async fn page(&self, s: &Current, main_id: &'static str) -> PageCtx {
        let brand = self.portal.brand(&s.record.tenant).await.unwrap_or_default();
        PageCtx {
            organisation: brand.organisation,
            support: brand.support.unwrap_or_default(),
            signed_in: s.signed_in(),
            csrf: self.portal.csrf_token(s),
            // Only a signed-in session has something to keep alive.
            session_ends: if s.signed_in() {
                when(self.portal.session_ends_at(s)).get(11..).unwrap_or_default().to_owned()
            } else {
                String::new()
            },
            main_id,
        }
    }

    /// The session of a form post, if its CSRF token and origin check out.
    fn posted<'a>(&self, r: &'a Req, headers: &HeaderMap, csrf: &str) -> Option<&'a Current> {
        let s = r.session.as_ref()?;
        (same_origin(headers) && self.portal.csrf_ok(s, csrf)).then_some(s)
    }
}

fn reference(text: &str) -> Option<RecipientId> {
    RecipientId::parse(text).ok()
}

/// `GET /p/{token}`: the notification's link. The token is exchanged at
/// once for a session cookie and the browser is sent on to a URL without
/// it, so it stays out of history, referrers and logs.
pub(crate) async fn exchange(
    State(web): State<Arc<Web>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let (t, _) = i18n::choose(q.lang.as_deref(), &headers);
    if token.len() > 128 {
        return simple(t, StatusCode::NOT_FOUND, "expired", t.unknown_title, t.unknown_text, &[]);
    }
    match web.portal.exchange(&token).await {
        Ok(Some(new)) => redirect("/portal/", &[session_cookie(&new.cookie)]),
        Ok(None) => simple(t, StatusCode::NOT_FOUND, "expired", t.unknown_title, t.unknown_text, &[]),
        Err(e) => failure(t, e),
    }
}

/// `GET /portal/`: sign-in, the expired page, or the inbox.
pub(crate) async fn home(State(web): State<Arc<Web>>, headers: HeaderMap, Query(q): Query<PageQuery>) -> Response {
    let r = match req(&web, &headers, q.lang.as_deref()).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let t = r.t;
    let Some(s) = &r.session else {
        return simple(t, StatusCode::OK, "signed-out", t.signed_out_title, t.signed_out_text, &r.cookies);
    };
    if !s.signed_in() {
        let entry = match web.portal.entry(s).await {
            Ok(e) => e,
            Err(e) => return failure(t, e),
        };
        return match entry.state {
            PickupState::Active => {
                let p = SigninPage {
                    t,
                    page: web.page(s, "main").await,
                    expires: when(entry.expires_at),
                    error: String::new(),
                };
                respond(StatusCode::OK, p.render(), &r.cookies)
            }
            PickupState::Expired | PickupState::Retracted => {
                let text = if entry.state == PickupState::Retracted { t.retracted_text } else { t.expired_text };
                let page = web.page(s, "expired").await;
                notice(t, StatusCode::GONE, page, t.expired_title, text.to_owned(), true, ("", ""), &r.cookies)
            }
            PickupState::Gone => {
                simple(t, StatusCode::NOT_FOUND, "expired", t.unknown_title, t.unknown_text, &r.cookies)
            }
        };
    }
    let items = match web.portal.inbox(s).await {
        Ok(items) => items,
        Err(e) => return failure(t, e),
    };
    let items = items
        .into_iter()
        .map(|i| InboxRow {
            reference: i.reference.to_string(),
            subject: i.subject,
            from: i.from,
            received: when(i.received_at),
            expires: when(i.expires_at),
            opened: i.opened,
        })
        .collect();
    let p = InboxPage { t, page: web.page(s, "main").await, items };
    respond(StatusCode::OK, p.render(), &r.cookies)
}

/// `POST /portal/code`: mail a one-time code.
pub(crate) async fn send_code(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    let r = match req(&web, &headers, None).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let t = r.t;
    let Some(s) = web.posted(&r, &headers, &form.csrf) else { return forbidden(t) };
    if s.signed_in() {
        return redirect("/portal/", &[]);
    }
    match web.portal.send_code(s, t.lang).await {
        Ok(_) => redirect("/portal/verify", &[]),
        Err(PortalError::TooManyCodes { retry_at }) => {
            let entry = web.portal.entry(s).await.ok();
            let p = SigninPage {
                t,
                page: web.page(s, "main").await,
                expires: entry.map(|e| when(e.expires_at)).unwrap_or_default(),
                error: format!("{} {}.", t.too_many_codes, when(retry_at)),
            };
            respond(StatusCode::TOO_MANY_REQUESTS, p.render(), &[])
        }
        Err(e) => failure(t, e),
    }
}

/// `GET /portal/verify`: the code form.
pub(crate) async fn verify_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let r = match req(&web, &headers, q.lang.as_deref()).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match &r.session {
        Some(s) if !s.signed_in() => {
            let p = VerifyPage { t: r.t, page: web.page(s, "main").await, error: String::new() };
            respond(StatusCode::OK, p.render(), &r.cookies)
        }
        _ => redirect("/portal/", &r.cookies),
    }
}

/// `POST /portal/verify`: check the code; signed in, the session gets a new id.
pub(crate) async fn verify(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CodeForm>,
) -> Response {
    let r = match req(&web, &headers, None).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let t = r.t;
    let Some(s) = web.posted(&r, &headers, &form.csrf) else { return forbidden(t) };
    if s.signed_in() {
        return redirect("/portal/", &[]);
    }
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).collect();
    let error = match web.portal.verify_code(s, &code).await {
        Ok(new) => return redirect("/portal/", &[session_cookie(&new.cookie)]),
        Err(PortalError::WrongCode { tries_left }) => format!("{} {tries_left}.", t.wrong_code),
        Err(PortalError::CodeExpired) => t.code_expired.to_owned(),
        Err(e) => return failure(t, e),
    };
    let p = VerifyPage { t, page: web.page(s, "main").await, error };
    respond(StatusCode::BAD_REQUEST, p.render(), &[])
}

fn joined(list: &[sealpost_view::Mailbox]) -> String {
    list.iter()
        .map(|m| match &m.name {
            Some(n) if !n.trim().is_empty() => format!("{n} <{}>", m.address),
            _ => m.address.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `GET /portal/m/{reference}`: one message.
pub(crate) async fn message(
    State(web): State<Arc<Web>>,
    Path(text): Path<String>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let r = match req(&web, &headers, q.lang.as_deref()).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let t = r.t;
    let Some(s) = r.session.as_ref().filter(|s| s.signed_in()) else { return redirect("/portal/", &r.cookies) };
    let Some(reference) = reference(&text) else { return failure(t, PortalError::NotFound) };
    let m = match web.portal.open(s, &reference).await {
        Ok(m) => m,
        Err(e) => return failure(t, e),
    };
    let cid_url = |cid: &str| format!("/portal/m/{reference}/cid/{}", percent(cid));
    let v = match sealpost_view::view(&m.raw, &cid_url) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "a portal message could not be shown");
            return failure(t, PortalError::Unavailable503("unreadable message".into()));
        }
    };
    let p = MessagePage {
        t,
        page: web.page(s, "main").await,
        reference: reference.to_string(),
        notice: if q.sent.is_some() { t.reply_sent.to_owned() } else { String::new() },
        subject: v.subject.clone().unwrap_or_default(),
        from: joined(&v.from),
        to: joined(&v.to),
        cc: joined(&v.cc),
        date: v.date.map(|d| when(d * 1_000_000)).unwrap_or_default(),
        expires: when(m.expires_at),
        html: if v.text.is_some() && v.html.is_none() { None } else { v.html.clone() },
        text: v.text.clone().unwrap_or_default(),
        attachments: v
            .attachments
            .iter()
            .filter(|a| !a.inline)
            .map(|a: &AttachmentInfo| AttachmentRow {
                index: a.index,
                filename: a.filename.clone(),
                size: size(a.size),
            })
            .collect(),
    };
    respond(StatusCode::OK, p.render(), &r.cookies)
}

/// Percent-encodes a Content-ID for a URL path segment.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `GET /portal/m/{reference}/a/{part}`: an attachment, byte-exact.
pub(crate) async fn attachment(
    State(web): State<Arc<Web>>,
    Path((text, part)): Path<(String, usize)>,
    headers: HeaderMap,
) -> Response {
    let r = match req(&web, &headers, None).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let t = r.t;
    let Some(s) = r.session.as_ref().filter(|s| s.signed_in()) else { return redirect("/portal/", &[]) };
    let Some(reference) = reference(&text) else { return failure(t, PortalError::NotFound) };
    match web.portal.download(s, &reference, part, |raw| sealpost_view::attachment(raw, part)).await {
        Ok((info, bytes)) => {
            let disposition = sealpost_view::content_disposition(Disposition::Attachment, &info.filename);
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => failure(t, e),
    }
}

/// `GET /portal/m/{reference}/cid/{cid}`: an image shown inside the message.
pub(crate) async fn inline_image(
    State(web): State<Arc<Web>>,
    Path((text, cid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let r = match req(&web, &headers, None).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some(s) = r.session.as_ref().filter(|s| s.signed_in()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(reference) = reference(&text) else { return StatusCode::NOT_FOUND.into_response() };
    match web.portal.inline(s, &reference, |raw| sealpost_view::inline_image(raw, &cid)).await {
        Ok((content_type, bytes)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, content_type), (header::CONTENT_DISPOSITION, "inline".to_owned())],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// What the reply form shows again: the draft and why it was refused.
struct Refill {
    all: bool,
    body: String,
    error: String,
    status: StatusCode,
}

async fn reply_form(web: &Web, r: &Req, s: &Current, reference: &RecipientId, f: Refill) -> Response {
    let t = r.t;
    let subject = match web.portal.open(s, reference).await {
        Ok(m) => sealpost_view::view(&m.raw, &|_| String::new()).ok().and_then(|v| v.subject).unwrap_or_default(),
        Err(e) => return failure(t, e),
    };
    let p = ReplyPage {
        t,
        page: web.page(s, "main").await,
        reference: reference.to_string(),
        subject,
        all: f.all,
        body: f.body,
        error: f.error,
        max_size: size(web.portal.limits().max_reply_bytes),
    };
    respond(f.status, p.render(), &r.cookies)
}

/// `GET /portal/m/{reference}/reply[?all=1]`: the reply form.
pub(crate) async fn reply_page(
    State(web): State<Arc<Web>>,
    Path(text): Path<String>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let r = match req(&web, &headers, q.lang.as_deref()).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some(s) = r.session.clone().filter(|s| s.signed_in()) else { return redirect("/portal/", &r.cookies) };
    let Some(reference) = reference(&text) else { return failure(r.t, PortalError::NotFound) };
    let all = q.all.as_deref() == Some("1");
    let refill = Refill { all, body: String::new(), error: String::new(), status: StatusCode::OK };
    reply_form(&web, &r, &s, &reference, refill).await
}

/// `POST /portal/m/{reference}/reply`: send it (multipart: csrf, all, body, attachment…).
pub(crate) async fn reply(
    State(web): State<Arc<Web>>,
    Path(text): Path<String>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let r = match req(&web, &headers, None).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let t = r.t;
    let Some(reference) = reference(&text) else { return failure(t, PortalError::NotFound) };
    let mut csrf = String::new();
    let mut draft = Draft::default();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return simple(t, StatusCode::BAD_REQUEST, "error", t.error_title, t.error_text, &[]),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned).unwrap_or_default();
        let Ok(bytes) = field.bytes().await else {
            return simple(t, StatusCode::BAD_REQUEST, "error", t.error_title, t.error_text, &[]);
        };
        match name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
            "all" => draft.all = &bytes[..] == b"1",
            "body" => draft.body = String::from_utf8_lossy(&bytes).into_owned(),
            "attachment" => {
                // A file input left empty still sends an empty part.
                if let Some(filename) = filename.filter(|f| !f.is_empty())
                    && !bytes.is_empty()
                {
                    draft.attachments.push(DraftAttachment { filename, content_type, bytes: bytes.to_vec() });
                }
            }
            _ => {}
        }
    }
    let Some(s) = web.posted(&r, &headers, &csrf).cloned() else { return forbidden(t) };
    if !s.signed_in() {
        return redirect("/portal/", &[]);
    }
    let (all, body) = (draft.all, draft.body.clone());
    match web.portal.reply(&s, &reference, draft).await {
        Ok(_) => redirect(&format!("/portal/m/{reference}?sent=1"), &[]),
        Err(PortalError::BadReply(why)) => {
            let refill = Refill { all, body, error: why, status: StatusCode::BAD_REQUEST };
            reply_form(&web, &r, &s, &reference, refill).await
        }
        Err(e) => failure(t, e),
    }
}

/// `POST /portal/resend`: ask the sender to send an expired message again.
pub(crate) async fn resend(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    let r = match req(&web, &headers, None).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let t = r.t;
    let Some(s) = web.posted(&r, &headers, &form.csrf) else { return forbidden(t) };
    match web.portal.request_resend(s).await {
        Ok(()) => {
            let page = web.page(s, "expired").await;
            notice(t, StatusCode::OK, page, t.expired_title, t.resend_asked.to_owned(), false, ("", ""), &[])
        }
        Err(PortalError::BadReply(_)) => redirect("/portal/", &[]),
        Err(e) => failure(t, e),
    }
}

/// `POST /portal/signout`.
pub(crate) async fn sign_out(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    let r = match req(&web, &headers, None).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let t = r.t;
    let Some(s) = web.posted(&r, &headers, &form.csrf) else { return forbidden(t) };
    if let Err(e) = web.portal.sign_out(s).await {
        return failure(t, e);
    }
    simple(t, StatusCode::OK, "signed-out", t.signed_out_title, t.signed_out_text, &[clear_session_cookie()])
}

/// `POST /portal/extend`: keep the session alive.
pub(crate) async fn extend(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    let r = match req(&web, &headers, None).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some(s) = web.posted(&r, &headers, &form.csrf) else { return forbidden(r.t) };
    match web.portal.extend(s).await {
        Ok(()) => redirect("/portal/", &[]),
        Err(e) => failure(r.t, e),
    }
}

/// The stylesheet (the only one; no inline styles anywhere). Like every
/// portal response it is `Cache-Control: no-store` (docs/design/portal.md):
/// a shared or disk cache keeps nothing of the portal, not even this.
pub(crate) async fn stylesheet() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../static/portal.css"))
        .into_response()
}

/// No icon: an empty 404 (browsers ask for one).
pub(crate) async fn no_favicon() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// `GET /portal/brand.css`: the session's tenant's accent colour (empty
/// without a session or a colour). A stylesheet of its own, so the CSP
/// still allows no inline style.
pub(crate) async fn brand_stylesheet(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let mut css = String::new();
    if let Some(c) = cookie(&headers, SESSION_COOKIE)
        && let Ok(Some(s)) = web.portal.session(&c).await
        && let Ok(brand) = web.portal.brand(&s.record.tenant).await
        && let Some(accent) = brand.accent.filter(|a| sealpost_core::settings::parse_colour(a).is_some())
    {
        css = format!(":root {{ --accent: {accent}; }}\n");
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response()
}

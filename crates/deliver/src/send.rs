//! One delivery attempt for one recipient, and the commit of its outcome.

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_crypto::{random_token, sha256};
use std::time::Duration;

use sealpost_model::{Category, EmailAddress, now_micros};
use sealpost_outbound::{ConnectOptions, Connection, MxError, OutboundError, SendOutcome, TlsInfo, client::Timeouts};
use sealpost_store::{Commit, DeliveryUpdate, LeasedRecipient, Op, PortalPickup, Source};

use super::Deliverer;
use super::decide::{Method, Otherwise, Plan, plan};
use super::notice;
use super::throttle::DestPermit;
use sealpost_core::ServerError;
use sealpost_core::access::OpenedMessage;
use sealpost_core::config::PolicyMode;
use sealpost_core::pipeline::{EnvelopeMeta, RcptKind, RcptMeta, Submission};

/// What one attempt came to.
enum Attempt {
    Sent {
        tls: Option<TlsInfo>,
        code: u16,
    },
    /// Connections were made but none had verified TLS.
    NoVerifiedTls,
    /// REQUIRETLS: no server offered verified TLS together with REQUIRETLS.
    NoRequireTls,
    /// The destination's connection or rate limit is reached: try again then.
    Busy(Duration),
    Transient {
        code: Option<u16>,
        why: &'static str,
    },
    Permanent {
        code: Option<u16>,
        why: &'static str,
    },
}

fn tls_name(tls: Option<&TlsInfo>) -> &'static str {
    match tls.map(|t| t.version.as_str()) {
        Some("TLSv1.3") => "TLSv1.3",
        Some("TLSv1.2") => "TLSv1.2",
        Some(_) => "TLS-other",
        None => "none",
    }
}

pub(super) async fn deliver_one(
    d: &Deliverer,
    stream: Category,
    item: &LeasedRecipient,
    opened: OpenedMessage,
) -> Result<(), ServerError> {
    let app = &d.core;
    let cfg = &app.cfg.delivery;
    let raw = opened.raw.as_deref().unwrap_or_default();
    let rcpt = opened
        .meta
        .recipients
        .get(item.rcpt_index as usize)
        .ok_or_else(|| ServerError::State(format!("message {}: recipient index out of range", item.message_id)))?;
    let address = EmailAddress::parse(&rcpt.address, true)
        .map_err(|e| ServerError::State(format!("message {}: stored recipient: {e}", item.message_id)))?;
    let domain = address.domain().to_ascii_lowercase();

    let hash = app.address_hash(&item.tenant, address.as_str());
    if app.store.is_suppressed(&item.tenant, &hash).await? {
        return finish(d, item, &opened, Finish::Suppressed).await;
    }

    let tenant = d.settings.get(&item.tenant).await?;
    let notice = opened.meta.notice;
    let scan = (!notice).then(|| tenant.classifier.scan_message_report(raw));
    let phi = scan.as_ref().is_some_and(|s| !s.findings.is_empty() || s.truncated);
    // R-CL-3: PHI, or the tenant's "always secure", makes encryption mandatory.
    let sensitive = phi || (!notice && tenant.settings.always_secure);
    let (mode, portal_domain) = tenant.settings.policy_for(cfg, opened.meta.policy, &domain);
    let decision = plan(mode, sensitive, notice, portal_domain);
    let decided = |method: &'static str, reason: &'static str| {
        NewEvent::new(item.tenant.clone(), Actor::system(), Action::DeliveryDecided, Outcome::Success)
            .target(item.message_id)
            .detail("recipient", DetailValue::id(item.id))
            .detail("method", DetailValue::Name(method))
            .detail("reason", DetailValue::Name(reason))
            .detail("policy", DetailValue::Name(mode.as_str()))
            .detail("phi", DetailValue::Bool(phi))
    };

    // R-DL-1: OpenPGP first when the recipient has a key on file (policy
    // portal-always and portal domains still win). Encrypted mail may travel
    // over any channel.
    let keys_apply = !notice && mode != PolicyMode::PortalAlways && !portal_domain;
    let mut pgp_keys = if keys_apply { d.keys.pgp_keys_for(&item.tenant, address.as_str()).await? } else { Vec::new() };
    let mut pgp_reason = "recipient-pgp-key";
    if keys_apply && pgp_keys.is_empty() && cfg.wkd {
        pgp_keys = wkd_keys(d, address.as_str()).await;
        pgp_reason = "recipient-pgp-wkd";
    }
    let smime_certs = if keys_apply && pgp_keys.is_empty() {
        d.keys.smime_certs_for(&item.tenant, address.as_str()).await?
    } else {
        Vec::new()
    };
    let encrypted;
    let (raw, verified_only, otherwise, method_hint) = if !pgp_keys.is_empty() {
        encrypted = sealpost_openpgp::encrypt_mime(raw, &pgp_keys)
            .map_err(|e| ServerError::State(format!("message {}: OpenPGP: {e}", item.message_id)))?;
        (&encrypted[..], false, Otherwise::Fail, Some(Method::Pgp))
    } else if !smime_certs.is_empty() {
        // Compatible (AES-256-CBC, RSA PKCS#1 v1.5) reaches every common client.
        encrypted = sealpost_smime::encrypt_mime(raw, &smime_certs, sealpost_smime::Strength::Compatible)
            .map_err(|e| ServerError::State(format!("message {}: S/MIME: {e}", item.message_id)))?;
        (&encrypted[..], false, Otherwise::Fail, Some(Method::Smime))
    } else {
        match decision {
            Plan::Portal(reason) => return portal(d, item, &opened, rcpt, decided("portal", reason)).await,
            Plan::Send { verified_only, otherwise } => (raw, verified_only, otherwise, None),
        }
    };
    let require_tls = opened.meta.require_tls;
    let mail_from = opened.meta.mail_from.clone().unwrap_or_default();
    let mut params = Vec::new();
    if opened.meta.smtputf8 {
        params.push("SMTPUTF8".to_owned());
    }
    if opened.meta.eight_bit {
        params.push("BODY=8BITMIME".to_owned());
    }
    if require_tls {
        params.push("REQUIRETLS".to_owned());
    }
    // DKIM: sign with the sending domain's active keys (none configured: unsigned).
    let sender_domain = match opened.meta.mail_from.as_deref() {
        Some(from) => from.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()),
        None => cfg.notice_from.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()),
    };
    let signers = match &sender_domain {
        Some(dom) => d.keys.dkim_signers(&item.tenant, dom).await?,
        None => Vec::new(),
    };
    let signed;
    let raw = if signers.is_empty() {
        raw
    } else {
        signed = sealpost_core::keys::sign(&signers, raw)?;
        &signed[..]
    };
    let needs = Needs { verified: verified_only || require_tls, require_tls };
    let envelope = Envelope { mail_from: &mail_from, params: &params, rcpt: address.as_str(), raw };
    match attempt(d, stream, &domain, needs, &envelope).await {
        Attempt::Sent { tls, code } => {
            let verified = tls.as_ref().is_some_and(|t| t.verified);
            let method = method_hint.unwrap_or(if verified { Method::Tls } else { Method::Opportunistic });
            let reason = match method {
                Method::Pgp => pgp_reason,
                Method::Smime => "recipient-smime-cert",
                _ if sensitive => "phi-verified-tls",
                _ => "no-phi",
            };
            finish(d, item, &opened, Finish::Delivered { method, tls, code, decided: decided(method.as_str(), reason) })
                .await
        }
        Attempt::Busy(wait) => {
            let op = Op::Requeue {
                tenant: item.tenant.clone(),
                message: item.message_id,
                recipient: item.id,
                next_attempt_at: now_micros() + wait.max(Duration::from_millis(500)).as_micros() as i64,
            };
            app.store.commit(Commit { ops: vec![op], events: Vec::new() }).await?;
            Ok(())
        }
        Attempt::NoRequireTls => {
            // RFC 8689 §4.2.2: not relayed; the sender gets a non-delivery notice.
            let why =
                "REQUIRETLS: no mail server of the recipient offered verified TLS with REQUIRETLS; nothing was sent";
            finish(d, item, &opened, Finish::Failed { code: None, why, hard: false }).await
        }
        Attempt::NoVerifiedTls => match otherwise {
            Otherwise::Portal => portal(d, item, &opened, rcpt, decided("portal", "no-verified-tls")).await,
            Otherwise::Fail => {
                let why = "no verified TLS to the recipient's mail server (policy tls-exclusive); nothing was sent";
                finish(d, item, &opened, Finish::Failed { code: None, why, hard: false }).await
            }
        },
        Attempt::Permanent { code, why } => {
            finish(d, item, &opened, Finish::Failed { code, why, hard: code.is_some() }).await
        }
        Attempt::Transient { code, why } => {
            let age = now_micros() - opened.record.created_at;
            if age > (cfg.lifetime_hours as i64) * 3_600_000_000 {
                finish(d, item, &opened, Finish::Failed { code, why: "gave up after the queue lifetime", hard: false })
                    .await
            } else {
                finish(d, item, &opened, Finish::Deferred { code, why, age }).await
            }
        }
    }
}

/// What a connection must offer before this message may use it.
#[derive(Debug, Clone, Copy)]
struct Needs {
    /// TLS whose certificate verified for the MX name (or by DANE).
    verified: bool,
    /// The REQUIRETLS extension (RFC 8689).
    require_tls: bool,
}

/// The recipient's OpenPGP key from its domain's Web Key Directory, if it
/// publishes one that names exactly this address. Any failure means "no key
/// discovered" (the next method applies), never a delivery failure.
async fn wkd_keys(d: &Deliverer, address: &str) -> Vec<sealpost_openpgp::RecipientKey> {
    let bytes = match d.wkd.fetch_key(address).await {
        Ok(Some(b)) => b,
        Ok(None) => return Vec::new(),
        Err(e) => {
            tracing::debug!(error = %e, "WKD lookup failed");
            return Vec::new();
        }
    };
    let parsed = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN PGP") => sealpost_openpgp::RecipientKey::parse_armored(text),
        _ => sealpost_openpgp::RecipientKey::parse_binary(&bytes),
    };
    match parsed {
        Ok(k) if k.can_encrypt() && k.user_ids().iter().any(|u| uid_address(u).eq_ignore_ascii_case(address)) => {
            vec![k]
        }
        _ => Vec::new(),
    }
}

/// The address of a user id (`Name <a@b>` or a bare `a@b`).
fn uid_address(uid: &str) -> &str {
    match (uid.rfind('<'), uid.rfind('>')) {
        (Some(l), Some(r)) if l < r => &uid[l + 1..r],
        _ => uid.trim(),
    }
}

impl Needs {
    fn met_by(self, conn: &Connection) -> bool {
        (!self.verified || conn.tls().is_some_and(|t| t.verified))
            && (!self.require_tls || conn.has_extension("REQUIRETLS"))
    }
}

/// One SMTP transaction's inputs.
struct Envelope<'a> {
    mail_from: &'a str,
    params: &'a [String],
    rcpt: &'a str,
    raw: &'a [u8],
}

async fn attempt(d: &Deliverer, stream: Category, domain: &str, needs: Needs, env: &Envelope<'_>) -> Attempt {
    let cfg = &d.core.cfg.delivery;
    let route = cfg.route(domain);
    // MTA-STS (RFC 8461) `enforce`: only the policy's MX hosts, only over
    // verified TLS, whatever the message (routes are the operator's choice).
    let sts = match (&route, cfg.mta_sts) {
        (None, true) => d.mta_sts.policy(domain).await.filter(|p| p.mode == sealpost_outbound::Mode::Enforce),
        _ => None,
    };
    let message_needs_verified = needs.verified;
    let needs = Needs { verified: needs.verified || sts.is_some(), ..needs };
    if let Err(wait) = d.throttle.message(domain).await {
        return Attempt::Busy(wait);
    }
    // A cached connection to the same destination first (R-DL-4 connection
    // reuse); else a free slot for a new one.
    let permit = match slot(d, stream, domain, needs).await {
        Ok(Slot::Cached(pooled)) => {
            let super::pool::Pooled { mut conn, permit, .. } = *pooled;
            let tls = conn.tls().cloned();
            match conn.send(env.mail_from, env.params, &[env.rcpt.to_owned()], env.raw).await {
                // Closed while idle (or 421): a fresh connection on the same slot.
                Err(_) => permit,
                Ok(o) if o.mail.code == 421 => permit,
                outcome => return conclude(d, stream, domain, conn, permit, tls, outcome).await,
            }
        }
        Ok(Slot::Free(permit)) => permit,
        Err(wait) => return Attempt::Busy(wait),
    };
    let routed = route.is_some();
    let resolved = match route {
        Some((host, port)) => d.resolver.resolve_host(&host, port).await.map(|h| vec![h]),
        None => d.resolver.resolve(domain).await,
    };
    let mut hosts = match resolved {
        Ok(h) => h,
        Err(MxError::NullMx) => return Attempt::Permanent { code: None, why: "the domain accepts no mail (null MX)" },
        Err(MxError::NoHost) => return Attempt::Permanent { code: None, why: "the domain has no mail server" },
        Err(MxError::Lookup(_)) => return Attempt::Transient { code: None, why: "DNS lookup failed" },
    };
    // Issue 13.10: an MX (not a configured route) whose address is
    // loopback, private, link-local, metadata… is skipped unless
    // `allow_internal_mx` lists it. The addresses checked here are the ones
    // connected to below: no second lookup.
    if !routed {
        for host in &mut hosts {
            host.addrs.retain(|a| match d.internal_mx.check(&host.host, a.ip()) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(mx = %host.host, error = %e, "MX address refused");
                    false
                }
            });
        }
        hosts.retain(|h| !h.addrs.is_empty());
        if hosts.is_empty() {
            return Attempt::Transient {
                code: None,
                why: "every mail server of the domain resolves to an internal address ([delivery] allow_internal_mx)",
            };
        }
    }
    if let Some(policy) = &sts {
        hosts.retain(|h| policy.matches_mx(&h.host));
        if hosts.is_empty() {
            return Attempt::Transient { code: None, why: "MTA-STS: no mail server of the domain matches its policy" };
        }
    }
    let stream_cfg = cfg.stream(stream);
    let helo = stream_cfg.helo_name.as_deref().unwrap_or(d.core.cfg.hostname.as_str());
    let (mut saw_unverified, mut saw_no_requiretls, mut saw_dane_failure) = (false, false, false);
    for host in &hosts {
        for addr in &host.addrs {
            // DANE (RFC 7672): authenticated TLSA records decide what verifies;
            // a failed lookup makes this MX unusable rather than unchecked.
            let tlsa = if d.dane.is_enabled() {
                match d.dane.lookup(&host.host, addr.port()).await {
                    Ok(found) => found.dane_records().to_vec(),
                    Err(e) => {
                        tracing::debug!(mx = %host.host, error = %e, "TLSA lookup failed");
                        saw_dane_failure = true;
                        continue;
                    }
                }
            } else {
                Vec::new()
            };
            let opts = ConnectOptions { bind: stream_cfg.source_address, tlsa };
            let mut conn =
                match Connection::open_with(*addr, &host.host, helo, &d.tls, Timeouts::default(), &opts).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(mx = %host.host, error = %e, "MX connection failed");
                        continue;
                    }
                };
            if !needs.met_by(&conn) {
                // Decided after the handshake, from what verified: nothing is sent.
                if conn.tls().is_some_and(|t| t.verified) {
                    saw_no_requiretls = true;
                } else {
                    saw_unverified = true;
                }
                conn.quit().await;
                continue;
            }
            let tls = conn.tls().cloned();
            let outcome = conn.send(env.mail_from, env.params, &[env.rcpt.to_owned()], env.raw).await;
            return conclude(d, stream, domain, conn, permit, tls, outcome).await;
        }
    }
    if needs.require_tls && (saw_unverified || saw_no_requiretls) {
        Attempt::NoRequireTls
    } else if saw_unverified && !message_needs_verified {
        // Enforced by the domain's policy, not by the message: wait for it to be fixed.
        Attempt::Transient { code: None, why: "MTA-STS: no mail server of the domain offered verified TLS" }
    } else if saw_unverified {
        Attempt::NoVerifiedTls
    } else if saw_dane_failure {
        Attempt::Transient { code: None, why: "DANE: TLSA lookup failed" }
    } else {
        Attempt::Transient { code: None, why: "no mail server of the domain could be reached" }
    }
}

/// Where a message gets its connection from.
enum Slot {
    /// An idle cached connection (with its slot) that meets the message's needs.
    Cached(Box<super::pool::Pooled>),
    /// A free slot for a new connection.
    Free(DestPermit),
}

/// Waits (at most [`super::throttle::MAX_WAIT`]) for a cached connection of
/// this stream or a free slot, whichever comes first. Cached connections
/// hold slots, so a waiter must look in the cache too: a finished delivery
/// parks its connection there instead of freeing its slot. Cached
/// connections that do not suit this message (or belong to the other
/// stream) are closed to free their slots.
async fn slot(d: &Deliverer, stream: Category, domain: &str, needs: Needs) -> Result<Slot, Duration> {
    let deadline = std::time::Instant::now() + super::throttle::MAX_WAIT;
    loop {
        while let Some(pooled) = d.pool.take(stream, domain) {
            if needs.met_by(&pooled.conn) {
                return Ok(Slot::Cached(Box::new(pooled)));
            }
            pooled.conn.quit().await;
        }
        if let Some(permit) = d.throttle.try_connection(domain) {
            return Ok(Slot::Free(permit));
        }
        if d.pool.evict(domain).await > 0 {
            continue;
        }
        if std::time::Instant::now() >= deadline {
            return Err(Duration::from_secs(1));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Turns a transaction's replies into an attempt result, and keeps the
/// connection for the next message when it is still in a good state.
async fn conclude(
    d: &Deliverer,
    stream: Category,
    domain: &str,
    conn: Connection,
    permit: DestPermit,
    tls: Option<TlsInfo>,
    outcome: Result<SendOutcome, OutboundError>,
) -> Attempt {
    let o = match outcome {
        Ok(o) => o,
        Err(_) => return Attempt::Transient { code: None, why: "connection lost during the transaction" },
    };
    let closing = o.mail.code == 421 || o.data.as_ref().is_some_and(|r| r.code == 421);
    let result = if !o.mail.is_positive() {
        code_attempt(o.mail.code, "the server refused the sender", "the server deferred the sender")
    } else {
        match (o.rcpts.first().map(|r| &r.reply), &o.data) {
            (Some(r), _) if !r.is_positive() => {
                code_attempt(r.code, "the server refused the recipient", "the server deferred the recipient")
            }
            (_, Some(data)) if data.is_positive() => Attempt::Sent { tls, code: data.code },
            (_, Some(data)) => {
                code_attempt(data.code, "the server refused the message", "the server deferred the message")
            }
            _ => Attempt::Transient { code: None, why: "no reply to the message" },
        }
    };
    if closing {
        conn.quit().await;
    } else {
        d.pool.put(stream, domain, conn, permit).await;
    }
    result
}

fn code_attempt(code: u16, permanent: &'static str, transient: &'static str) -> Attempt {
    if code >= 500 {
        Attempt::Permanent { code: Some(code), why: permanent }
    } else {
        Attempt::Transient { code: Some(code), why: transient }
    }
}

enum Finish {
    Delivered { method: Method, tls: Option<TlsInfo>, code: u16, decided: NewEvent },
    Deferred { code: Option<u16>, why: &'static str, age: i64 },
    Failed { code: Option<u16>, why: &'static str, hard: bool },
    Suppressed,
}

fn update(item: &LeasedRecipient, state: &str, event: &str, detail: String) -> DeliveryUpdate {
    let payload = sealpost_core::webhook_event::event_payload(&item.message_id, &item.id, event, &detail);
    DeliveryUpdate {
        webhook_payload: payload,
        tenant: item.tenant.clone(),
        message: item.message_id,
        recipient: item.id,
        state: state.into(),
        next_attempt_at: now_micros(),
        attempts: item.attempts + 1,
        method: None,
        tls_version: None,
        tls_cipher: None,
        last_code: None,
        event: event.into(),
        detail,
        // Once sent, it stays sent.
        delay_notified: item.delay_notified,
    }
}

fn audit(item: &LeasedRecipient, action: Action) -> NewEvent {
    NewEvent::new(item.tenant.clone(), Actor::system(), action, Outcome::Success)
        .target(item.message_id)
        .detail("recipient", DetailValue::id(item.id))
}

/// An outcome as metrics count it, once its commit succeeded.
#[derive(Clone, Copy)]
enum Counted {
    Delivered(&'static str),
    Deferred,
    Bounced(&'static str),
}

fn count(outcome: Counted, opened: &OpenedMessage) {
    // The queue's stream is the message's category.
    let stream = opened.record.category;
    match outcome {
        Counted::Delivered(method) => {
            let age = Duration::from_micros((now_micros() - opened.record.created_at).max(0) as u64);
            sealpost_core::telemetry::delivered(method, stream, age);
        }
        Counted::Deferred => sealpost_core::telemetry::deferred(stream),
        Counted::Bounced(reason) => sealpost_core::telemetry::bounced(reason, stream),
    }
}

async fn finish(d: &Deliverer, item: &LeasedRecipient, opened: &OpenedMessage, how: Finish) -> Result<(), ServerError> {
    let app = &d.core;
    let cfg = &app.cfg.delivery;
    let counted = match &how {
        Finish::Delivered { method, .. } => Counted::Delivered(method.as_str()),
        Finish::Deferred { .. } => Counted::Deferred,
        Finish::Failed { .. } => Counted::Bounced("failed"),
        Finish::Suppressed => Counted::Bounced("suppressed"),
    };
    let mut ops = Vec::new();
    let mut events = Vec::new();
    let mut notices = Vec::new();
    match how {
        Finish::Delivered { method, tls, code, decided } => {
            let mut u = update(
                item,
                "delivered",
                "delivered",
                serde_json::json!({"code": code, "method": method.as_str(), "tls": tls_name(tls.as_ref()),
                    "dane": tls.as_ref().is_some_and(|t| t.dane)})
                .to_string(),
            );
            u.method = Some(method.as_str().into());
            u.tls_version = tls.as_ref().map(|t| t.version.clone());
            u.tls_cipher = tls.as_ref().map(|t| t.cipher.clone());
            u.last_code = Some(code as i64);
            ops.push(Op::Delivery(u));
            events.push(decided);
            events.push(
                audit(item, Action::MessageDelivered)
                    .detail("method", DetailValue::Name(method.as_str()))
                    .detail("tls", DetailValue::Name(tls_name(tls.as_ref()))),
            );
        }
        Finish::Deferred { code, why, age } => {
            let shift = item.attempts.clamp(0, 16) as u32;
            let delay =
                (cfg.retry_base_seconds.max(1) as i64 * 1_000_000).saturating_mul(1 << shift).min(4 * 3_600_000_000);
            let mut u =
                update(item, "deferred", "deferred", serde_json::json!({"code": code, "reason": why}).to_string());
            u.next_attempt_at = now_micros() + delay;
            u.last_code = code.map(i64::from);
            events.push(
                audit(item, Action::MessageDeferred).detail("code", DetailValue::Count(code.unwrap_or(0) as i64)),
            );
            // R-DL-5: one PHI-free delay notice per recipient, once it has waited long enough.
            let due = cfg.delay_notice_seconds > 0 && age >= (cfg.delay_notice_seconds as i64) * 1_000_000;
            if let (true, false, false, Some(sender)) =
                (due, item.delay_notified, opened.meta.notice, opened.meta.mail_from.as_deref())
            {
                let why = match code {
                    Some(c) => format!("{why} (SMTP {c})"),
                    None => why.to_owned(),
                };
                let give_up = sealpost_audit::rfc3339_micros(
                    opened.record.created_at + (cfg.lifetime_hours as i64) * 3_600_000_000,
                );
                let bytes = notice::delay_notice(
                    &cfg.notice_from,
                    sender,
                    &item.message_id,
                    &item.id,
                    &why,
                    &give_up,
                    &app.cfg.hostname,
                )
                .map_err(|e| ServerError::State(e.to_string()))?;
                notices.push((sender.to_owned(), bytes));
                u.delay_notified = true;
                events.push(audit(item, Action::DelayNotified));
            }
            ops.push(Op::Delivery(u));
        }
        Finish::Failed { code, why, hard } => {
            let mut u =
                update(item, "bounced", "bounced", serde_json::json!({"code": code, "reason": why}).to_string());
            u.last_code = code.map(i64::from);
            ops.push(Op::Delivery(u));
            events
                .push(audit(item, Action::MessageBounced).detail("code", DetailValue::Count(code.unwrap_or(0) as i64)));
            if hard && let Some(rcpt) = opened.meta.recipients.get(item.rcpt_index as usize) {
                ops.push(Op::Suppress {
                    tenant: item.tenant.clone(),
                    address_hash: app.address_hash(&item.tenant, &rcpt.address),
                    reason: "hard_bounce".into(),
                });
            }
            // No notice about a notice, and none to the null sender.
            if let (false, Some(sender)) = (opened.meta.notice, opened.meta.mail_from.as_deref()) {
                let why = match code {
                    Some(c) => format!("{why} (SMTP {c})"),
                    None => why.to_owned(),
                };
                let bytes = notice::failure_notice(
                    &cfg.notice_from,
                    sender,
                    &item.message_id,
                    &item.id,
                    &why,
                    &app.cfg.hostname,
                )
                .map_err(|e| ServerError::State(e.to_string()))?;
                notices.push((sender.to_owned(), bytes));
            }
        }
        Finish::Suppressed => {
            ops.push(Op::Delivery(update(item, "suppressed", "suppressed", r#"{"reason":"suppression list"}"#.into())));
            events.push(audit(item, Action::MessageBounced).detail("reason", DetailValue::Name("suppressed")));
        }
    }
    commit_with_notices(d, item, ops, events, notices).await?;
    count(counted, opened);
    Ok(())
}

async fn portal(
    d: &Deliverer,
    item: &LeasedRecipient,
    opened: &OpenedMessage,
    rcpt: &RcptMeta,
    decided: NewEvent,
) -> Result<(), ServerError> {
    let app = &d.core;
    let cfg = &app.cfg.delivery;
    let token = random_token(32)?;
    let now = now_micros();
    let expires_at = now + (cfg.pickup_days as i64) * 86_400_000_000;
    let link = format!("{}/{}", cfg.portal_url.trim_end_matches('/'), token);
    let expires = sealpost_audit::rfc3339_micros(expires_at);
    let expires = expires.get(..10).unwrap_or(&expires);
    // The tenant's brand when it set one; else the envelope sender.
    let brand = d.settings.get(&item.tenant).await?.settings.portal_brand.organisation.clone();
    let sender = brand.or_else(|| opened.meta.mail_from.clone()).unwrap_or_else(|| "your care provider".into());
    let bytes =
        notice::portal_notification(&cfg.notice_from, &rcpt.address, &sender, &link, expires, &app.cfg.hostname)
            .map_err(|e| ServerError::State(e.to_string()))?;
    let mut u = update(item, "portal", "portal_notified", r#"{"method":"portal"}"#.into());
    u.method = Some(Method::Portal.as_str().into());
    let ops = vec![
        Op::Pickup(PortalPickup {
            token_hash: sha256(token.as_bytes()).to_vec(),
            tenant: item.tenant.clone(),
            message: item.message_id,
            recipient: item.id,
            created_at: now,
            expires_at,
            address_hash: Some(sealpost_core::portal_address_hash(app.root(), &item.tenant, &rcpt.address)),
            opened_at: None,
            retracted_at: None,
            reminded_at: None,
        }),
        Op::Delivery(u),
    ];
    let events = vec![decided, audit(item, Action::PortalNotified)];
    commit_with_notices(d, item, ops, events, vec![(rcpt.address.clone(), bytes)]).await?;
    count(Counted::Delivered(Method::Portal.as_str()), opened);
    Ok(())
}

/// Commits the outcome together with the notices it produced (as new
/// queued messages), so a crash cannot record one without the other.
async fn commit_with_notices(
    d: &Deliverer,
    item: &LeasedRecipient,
    ops: Vec<Op>,
    events: Vec<NewEvent>,
    notices: Vec<(String, Vec<u8>)>,
) -> Result<(), ServerError> {
    let app = &d.core;
    let subs = notices
        .into_iter()
        .map(|(to, raw)| Submission {
            tenant: item.tenant.clone(),
            actor: Actor::system(),
            source: Source::Api,
            category: Category::Transactional,
            envelope: EnvelopeMeta {
                mail_from: None,
                recipients: vec![RcptMeta { address: to, kind: RcptKind::To, notify: None, orcpt: None }],
                notice: true,
                ..EnvelopeMeta::default()
            },
            raw,
        })
        .collect();
    let (mut commit, _) = d.accept.seal_submissions(subs).await?;
    commit.ops.extend(ops);
    commit.events.extend(events);
    app.store.commit(Commit { ops: commit.ops, events: commit.events }).await?;
    Ok(())
}

//! One delivery attempt for one recipient, and the commit of its outcome.

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_crypto::{random_token, sha256};
use sealpost_model::{Category, EmailAddress, now_micros};
use sealpost_outbound::{Connection, MxError, TlsInfo, client::Timeouts};
use sealpost_store::{Commit, DeliveryUpdate, LeasedRecipient, Op, PortalPickup, Source};

use super::Deliverer;
use super::decide::{Method, Otherwise, Plan, plan};
use super::notice;
use crate::ServerError;
use crate::access::OpenedMessage;
use crate::pipeline::{EnvelopeMeta, RcptKind, RcptMeta, Submission};

/// What one attempt came to.
enum Attempt {
    Sent {
        tls: Option<TlsInfo>,
        code: u16,
    },
    /// Connections were made but none had verified TLS.
    NoVerifiedTls,
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
    item: &LeasedRecipient,
    opened: OpenedMessage,
) -> Result<(), ServerError> {
    let app = &d.app;
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

    let scan = (!opened.meta.notice).then(|| d.classifier.scan_message_report(raw));
    let sensitive = scan.as_ref().is_some_and(|s| !s.findings.is_empty() || s.truncated);
    let portal_domain = cfg.portal_domains.iter().any(|p| p.eq_ignore_ascii_case(&domain));
    let decision = plan(cfg.policy, sensitive, opened.meta.notice, portal_domain);
    let decided = |method: &'static str, reason: &'static str| {
        NewEvent::new(item.tenant.clone(), Actor::system(), Action::DeliveryDecided, Outcome::Success)
            .target(item.message_id)
            .detail("recipient", DetailValue::id(item.id))
            .detail("method", DetailValue::Name(method))
            .detail("reason", DetailValue::Name(reason))
            .detail("phi", DetailValue::Bool(sensitive))
    };

    // R-DL-1: OpenPGP first when the recipient has a key on file (policy
    // portal-always still wins). Encrypted mail may travel over any channel.
    let keys_apply = !opened.meta.notice && cfg.policy != crate::config::PolicyMode::PortalAlways;
    let pgp_keys = if keys_apply { app.pgp_keys_for(&item.tenant, address.as_str()).await? } else { Vec::new() };
    let smime_certs = if keys_apply && pgp_keys.is_empty() {
        app.smime_certs_for(&item.tenant, address.as_str()).await?
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
    let mail_from = opened.meta.mail_from.clone().unwrap_or_default();
    let mut params = Vec::new();
    if opened.meta.smtputf8 {
        params.push("SMTPUTF8".to_owned());
    }
    if opened.meta.eight_bit {
        params.push("BODY=8BITMIME".to_owned());
    }
    // DKIM: sign with the sending domain's active keys (none configured: unsigned).
    let sender_domain = match opened.meta.mail_from.as_deref() {
        Some(from) => from.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()),
        None => cfg.notice_from.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()),
    };
    let signers = match &sender_domain {
        Some(dom) => app.dkim_signers(&item.tenant, dom).await?,
        None => Vec::new(),
    };
    let signed;
    let raw = if signers.is_empty() {
        raw
    } else {
        signed = crate::dkim_keys::sign(&signers, raw)?;
        &signed[..]
    };
    let attempt = attempt(d, &domain, verified_only, &mail_from, &params, address.as_str(), raw).await;
    match attempt {
        Attempt::Sent { tls, code } => {
            let verified = tls.as_ref().is_some_and(|t| t.verified);
            let method = method_hint.unwrap_or(if verified { Method::Tls } else { Method::Opportunistic });
            let reason = match method {
                Method::Pgp => "recipient-pgp-key",
                Method::Smime => "recipient-smime-cert",
                _ if sensitive => "phi-verified-tls",
                _ => "no-phi",
            };
            finish(d, item, &opened, Finish::Delivered { method, tls, code, decided: decided(method.as_str(), reason) })
                .await
        }
        Attempt::NoVerifiedTls => {
            match otherwise {
                Otherwise::Portal => portal(d, item, &opened, rcpt, decided("portal", "no-verified-tls")).await,
                Otherwise::Fail => finish(
                    d,
                    item,
                    &opened,
                    Finish::Failed {
                        code: None,
                        why: "no verified TLS to the recipient's mail server (policy tls-exclusive); nothing was sent",
                        hard: false,
                    },
                )
                .await,
            }
        }
        Attempt::Permanent { code, why } => {
            finish(d, item, &opened, Finish::Failed { code, why, hard: code.is_some() }).await
        }
        Attempt::Transient { code, why } => {
            let age = now_micros() - opened.record.created_at;
            if age > (cfg.lifetime_hours as i64) * 3_600_000_000 {
                finish(d, item, &opened, Finish::Failed { code, why: "gave up after the queue lifetime", hard: false })
                    .await
            } else {
                finish(d, item, &opened, Finish::Deferred { code, why }).await
            }
        }
    }
}

async fn attempt(
    d: &Deliverer,
    domain: &str,
    verified_only: bool,
    mail_from: &str,
    params: &[String],
    rcpt: &str,
    raw: &[u8],
) -> Attempt {
    let resolved = match d.app.cfg.delivery.route(domain) {
        Some((host, port)) => d.resolver.resolve_host(&host, port).await.map(|h| vec![h]),
        None => d.resolver.resolve(domain).await,
    };
    let hosts = match resolved {
        Ok(h) => h,
        Err(MxError::NullMx) => return Attempt::Permanent { code: None, why: "the domain accepts no mail (null MX)" },
        Err(MxError::NoHost) => return Attempt::Permanent { code: None, why: "the domain has no mail server" },
        Err(MxError::Lookup(_)) => return Attempt::Transient { code: None, why: "DNS lookup failed" },
    };
    let helo = d.app.cfg.hostname.as_str();
    let mut saw_unverified = false;
    for host in &hosts {
        for addr in &host.addrs {
            let mut conn = match Connection::open(*addr, &host.host, helo, &d.tls, Timeouts::default()).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(mx = %host.host, error = %e, "MX connection failed");
                    continue;
                }
            };
            if verified_only && !conn.tls().is_some_and(|t| t.verified) {
                // Decided after the handshake, from what verified: nothing is sent.
                saw_unverified = true;
                conn.quit().await;
                continue;
            }
            let tls = conn.tls().cloned();
            let outcome = conn.send(mail_from, params, &[rcpt.to_owned()], raw).await;
            conn.quit().await;
            return match outcome {
                Err(_) => Attempt::Transient { code: None, why: "connection lost during the transaction" },
                Ok(o) if !o.mail.is_positive() => {
                    code_attempt(o.mail.code, "the server refused the sender", "the server deferred the sender")
                }
                Ok(o) => match (o.rcpts.first().map(|r| &r.reply), o.data) {
                    (Some(r), _) if !r.is_positive() => {
                        code_attempt(r.code, "the server refused the recipient", "the server deferred the recipient")
                    }
                    (_, Some(data)) if data.is_positive() => Attempt::Sent { tls, code: data.code },
                    (_, Some(data)) => {
                        code_attempt(data.code, "the server refused the message", "the server deferred the message")
                    }
                    _ => Attempt::Transient { code: None, why: "no reply to the message" },
                },
            };
        }
    }
    if saw_unverified {
        Attempt::NoVerifiedTls
    } else {
        Attempt::Transient { code: None, why: "no mail server of the domain could be reached" }
    }
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
    Deferred { code: Option<u16>, why: &'static str },
    Failed { code: Option<u16>, why: &'static str, hard: bool },
    Suppressed,
}

fn update(item: &LeasedRecipient, state: &str, event: &str, detail: String) -> DeliveryUpdate {
    // The webhook payload: ids, the event and its PHI-free detail (R-OP-1).
    let payload = serde_json::json!({
        "type": format!("message.{event}"),
        "timestamp": sealpost_audit::rfc3339_micros(now_micros()),
        "data": {
            "message_id": item.message_id.to_string(),
            "recipient_id": item.id.to_string(),
            "event": event,
            "detail": serde_json::from_str::<serde_json::Value>(&detail).unwrap_or(serde_json::Value::Null),
        },
    })
    .to_string();
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
    }
}

fn audit(item: &LeasedRecipient, action: Action) -> NewEvent {
    NewEvent::new(item.tenant.clone(), Actor::system(), action, Outcome::Success)
        .target(item.message_id)
        .detail("recipient", DetailValue::id(item.id))
}

async fn finish(d: &Deliverer, item: &LeasedRecipient, opened: &OpenedMessage, how: Finish) -> Result<(), ServerError> {
    let app = &d.app;
    let cfg = &app.cfg.delivery;
    let mut ops = Vec::new();
    let mut events = Vec::new();
    let mut notices = Vec::new();
    match how {
        Finish::Delivered { method, tls, code, decided } => {
            let mut u = update(
                item,
                "delivered",
                "delivered",
                serde_json::json!({"code": code, "method": method.as_str(), "tls": tls_name(tls.as_ref())}).to_string(),
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
        Finish::Deferred { code, why } => {
            let shift = item.attempts.clamp(0, 16) as u32;
            let delay =
                (cfg.retry_base_seconds.max(1) as i64 * 1_000_000).saturating_mul(1 << shift).min(4 * 3_600_000_000);
            let mut u =
                update(item, "deferred", "deferred", serde_json::json!({"code": code, "reason": why}).to_string());
            u.next_attempt_at = now_micros() + delay;
            u.last_code = code.map(i64::from);
            ops.push(Op::Delivery(u));
            events.push(
                audit(item, Action::MessageDeferred).detail("code", DetailValue::Count(code.unwrap_or(0) as i64)),
            );
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
    commit_with_notices(d, item, ops, events, notices).await
}

async fn portal(
    d: &Deliverer,
    item: &LeasedRecipient,
    opened: &OpenedMessage,
    rcpt: &RcptMeta,
    decided: NewEvent,
) -> Result<(), ServerError> {
    let app = &d.app;
    let cfg = &app.cfg.delivery;
    let token = random_token(32)?;
    let now = now_micros();
    let expires_at = now + (cfg.pickup_days as i64) * 86_400_000_000;
    let link = format!("{}/{}", cfg.portal_url.trim_end_matches('/'), token);
    let expires = sealpost_audit::rfc3339_micros(expires_at);
    let expires = expires.get(..10).unwrap_or(&expires);
    let sender = opened.meta.mail_from.clone().unwrap_or_else(|| "your care provider".into());
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
        }),
        Op::Delivery(u),
    ];
    let events = vec![decided, audit(item, Action::PortalNotified)];
    commit_with_notices(d, item, ops, events, vec![(rcpt.address.clone(), bytes)]).await
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
    let app = &d.app;
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
    let (mut commit, _) = app.seal_submissions(subs).await?;
    commit.ops.extend(ops);
    commit.events.extend(events);
    app.store.commit(Commit { ops: commit.ops, events: commit.events }).await?;
    Ok(())
}

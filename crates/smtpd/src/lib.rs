//! SMTP submission listeners (R-IN-1): drives the sans-IO
//! [`sealpost_smtp::Session`] over TCP, upgrading to TLS on STARTTLS, and
//! hands complete messages to the accept pipeline. The `250` carrying the
//! message id is written only after [`Accept::accept`] returned (durable).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sealpost_audit::Actor;
use sealpost_model::{Scope, TenantId};
use sealpost_smtp::{BodyType, DsnRet, Envelope, Event, Notify, Reply, Session, SessionConfig};
use sealpost_store::Source;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use sealpost_core::Core;
use sealpost_core::config::{ListenerTls, SmtpListener};
use sealpost_core::limits::ConnectionLimiter;
use sealpost_core::pipeline::{
    Accept, EnvelopeMeta, RcptKind, RcptMeta, Submission, category_from_headers, policy_from_headers,
};
use sealpost_core::principal::Principal;
use sealpost_core::senders::SendingDomains;
use sealpost_core::settings::Settings;
use sealpost_identity::{AuthFailure, Identity};

/// The services the SMTP listeners call, built once by the composition root.
pub struct Smtpd {
    /// The store, configuration and keys.
    pub core: Arc<Core>,
    /// Tenants' settings (category rules, policy).
    pub settings: Arc<Settings>,
    /// The accept path.
    pub accept: Arc<Accept>,
    /// Sign-in.
    pub identity: Arc<Identity>,
    /// Which domains each tenant may send as.
    pub senders: Arc<SendingDomains>,
}

/// Accepts connections on one listener until the task is dropped. Over the
/// connection caps a client is told `421` and disconnected at once.
pub async fn run_listener(app: Arc<Smtpd>, listener: TcpListener, cfg: SmtpListener, tls: TlsAcceptor) {
    let cfg = Arc::new(cfg);
    let limits = &app.core.cfg.limits;
    let limiter = ConnectionLimiter::new(limits.max_connections, limits.max_connections_per_client);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "smtp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let slot = match limiter.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                sealpost_core::telemetry::connection_refused("smtp");
                tracing::debug!(?why, "smtp connection over the cap");
                tokio::spawn(refuse(stream, cfg.tls == ListenerTls::Implicit));
                continue;
            }
        };
        let (app, cfg, tls) = (app.clone(), cfg.clone(), tls.clone());
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = connection(app, &cfg, tls, stream, peer).await {
                tracing::debug!(error = %e, "smtp connection ended with an error");
            }
        });
    }
}

/// Tells a client over the cap to come back later (RFC 5321 §3.8), in the
/// clear; on an implicit-TLS port it just closes (there is no TLS yet to
/// answer in, and a handshake would cost what the cap protects).
async fn refuse(mut stream: TcpStream, implicit_tls: bool) {
    if !implicit_tls {
        let reply = Reply::new(421, Some((4, 7, 0)), "Too many connections, try again later");
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&reply.to_bytes())).await;
    }
    let _ = stream.shutdown().await;
}

/// A TLS handshake bounded by `[limits] tls_handshake_seconds`: a client
/// that sends half a ClientHello is cut off.
async fn handshake<IO: AsyncRead + AsyncWrite + Unpin>(
    app: &Smtpd,
    tls: &TlsAcceptor,
    stream: IO,
) -> std::io::Result<tokio_rustls::server::TlsStream<IO>> {
    let limit = Duration::from_secs(app.core.cfg.limits.tls_handshake_seconds);
    tokio::time::timeout(limit, tls.accept(stream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}

struct Conn {
    principal: Option<Principal>,
    peer: SocketAddr,
}

enum Outcome<S> {
    Closed,
    StartTls(S, Box<Session>),
}

async fn connection(
    app: Arc<Smtpd>,
    cfg: &SmtpListener,
    tls: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
) -> std::io::Result<()> {
    let session = Session::new(SessionConfig {
        hostname: app.core.cfg.hostname.clone(),
        max_message_size: app.core.cfg.limits.max_message_size,
        max_recipients: app.core.cfg.limits.max_recipients,
        tls_active: cfg.tls == ListenerTls::Implicit,
        starttls_offered: cfg.tls == ListenerTls::Starttls,
        plaintext_allowed: cfg.allow_plaintext,
        relay_without_auth: cfg.is_trusted(peer.ip()),
        check_sender: true,
    });
    let mut conn = Conn { principal: None, peer };
    if cfg.tls == ListenerTls::Implicit {
        let tls_stream = handshake(&app, &tls, stream).await?;
        let greeting = session.greeting();
        drive(&app, cfg, &mut conn, tls_stream, session, Some(greeting)).await?;
        return Ok(());
    }
    let greeting = session.greeting();
    match drive(&app, cfg, &mut conn, stream, session, Some(greeting)).await? {
        Outcome::Closed => Ok(()),
        Outcome::StartTls(stream, mut session) => {
            let tls_stream = handshake(&app, &tls, stream).await?;
            session.tls_started();
            drive(&app, cfg, &mut conn, tls_stream, *session, None).await.map(|_| ())
        }
    }
}

async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    app: &Smtpd,
    cfg: &SmtpListener,
    conn: &mut Conn,
    mut stream: S,
    mut session: Session,
    greeting: Option<Reply>,
) -> std::io::Result<Outcome<S>> {
    let mut out: Vec<u8> = greeting.map(|g| g.to_bytes()).unwrap_or_default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(event) = session.next_event() {
            match event {
                Event::Reply(r) => out.extend_from_slice(&r.to_bytes()),
                Event::StartTls => {
                    flush(&mut stream, &mut out).await?;
                    return Ok(Outcome::StartTls(stream, Box::new(session)));
                }
                Event::Close => {
                    flush(&mut stream, &mut out).await?;
                    let _ = stream.shutdown().await;
                    return Ok(Outcome::Closed);
                }
                Event::Authenticate { username, password, .. } => {
                    flush(&mut stream, &mut out).await?;
                    let result = app.identity.login(&username, &password, conn.peer.ip()).await;
                    match result {
                        Ok(p) if p.allows(Scope::Send) => {
                            conn.principal = Some(p);
                            session.auth_result(true);
                        }
                        Ok(_) => {
                            sealpost_core::telemetry::auth_failure("smtp", "scope");
                            session.auth_result(false)
                        }
                        Err(AuthFailure::Invalid) | Err(AuthFailure::LockedOut) => session.auth_result(false),
                    }
                }
                Event::Mail { from } => {
                    let verdict = check_sender(app, cfg, conn, from.as_ref().map(|a| a.as_str())).await;
                    session.mail_result(verdict);
                }
                Event::Message { envelope, data } => {
                    flush(&mut stream, &mut out).await?;
                    let result = accept(app, cfg, conn, envelope, data).await;
                    session.message_result(result);
                }
            }
        }
        flush(&mut stream, &mut out).await?;
        let idle = Duration::from_secs(app.core.cfg.limits.smtp_idle_seconds);
        let n = match tokio::time::timeout(idle, stream.read(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => {
                let r = Reply::new(421, Some((4, 4, 2)), "Idle timeout, closing connection");
                stream.write_all(&r.to_bytes()).await?;
                return Ok(Outcome::Closed);
            }
        };
        if n == 0 {
            // Disconnected, possibly mid-DATA: whatever was buffered is dropped
            // with the session; nothing was stored.
            return Ok(Outcome::Closed);
        }
        session.feed(&buf[..n]);
    }
}

async fn flush<S: AsyncWrite + Unpin>(stream: &mut S, out: &mut Vec<u8>) -> std::io::Result<()> {
    if !out.is_empty() {
        stream.write_all(out).await?;
        stream.flush().await?;
        out.clear();
    }
    Ok(())
}

fn notify_text(n: &Notify) -> String {
    match n {
        Notify::Never => "NEVER".into(),
        Notify::On { success, failure, delay } => {
            let parts: Vec<&str> = [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")]
                .into_iter()
                .filter_map(|(on, name)| on.then_some(name))
                .collect();
            parts.join(",")
        }
    }
}

/// `550 5.7.1`: the sender's domain is not one this account may send as.
fn not_owned(domain: &str) -> Reply {
    let domain: String = domain.chars().filter(|c| c.is_ascii_graphic()).collect();
    Reply::new(550, Some((5, 7, 1)), format!("sender domain {domain} is not a sending domain of this account"))
}

/// The tenant a message on this connection is for and who sends it: the
/// signed-in account, or the relay tenant for a trusted relay client.
fn sender_of(cfg: &SmtpListener, conn: &Conn) -> Result<(TenantId, Actor), Reply> {
    match (&conn.principal, &cfg.relay_tenant) {
        (Some(p), _) => Ok((p.tenant().clone(), p.actor())),
        (None, Some(t)) if cfg.is_trusted(conn.peer.ip()) => Ok((t.clone(), Actor::relay(conn.peer.ip()))),
        _ => Err(Reply::new(530, Some((5, 7, 0)), "Authentication required")),
    }
}

/// Answers MAIL: the envelope sender must be in a domain the tenant owns
/// (issue 13.9), refused here so a client learns it before sending DATA.
/// The header `From:` is checked again after DATA.
async fn check_sender(app: &Smtpd, cfg: &SmtpListener, conn: &Conn, from: Option<&str>) -> Result<(), Reply> {
    let (tenant, _) = sender_of(cfg, conn)?;
    match app.senders.foreign_among(&tenant, from.filter(|a| !a.is_empty())).await {
        Ok(None) => Ok(()),
        Ok(Some(domain)) => Err(not_owned(&domain)),
        Err(e) => {
            tracing::error!(error = %e, "could not load the tenant's sending domains");
            Err(Reply::new(451, Some((4, 3, 0)), "Temporary failure, try again later"))
        }
    }
}

async fn accept(
    app: &Smtpd,
    cfg: &SmtpListener,
    conn: &Conn,
    envelope: Envelope,
    data: Vec<u8>,
) -> Result<String, Reply> {
    let (tenant, actor) = sender_of(cfg, conn)?;
    // The envelope sender and every header From: must be in a domain the
    // tenant owns (issue 13.9); on a trusted-relay listener, the relay
    // tenant's. Nothing is stored otherwise.
    match app.senders.foreign(&tenant, envelope.mail_from.as_ref().map(|a| a.as_str()), &data).await {
        Ok(None) => {}
        Ok(Some(domain)) => return Err(not_owned(&domain)),
        Err(e) => {
            tracing::error!(error = %e, "could not load the tenant's sending domains");
            return Err(Reply::new(451, Some((4, 3, 0)), "Temporary failure, try again later"));
        }
    }
    let policy = policy_from_headers(&data).map_err(|e| Reply::new(554, Some((5, 6, 0)), e.to_string()))?;
    let category = category_from_headers(&data).map_err(|e| Reply::new(554, Some((5, 6, 0)), e.to_string()))?;
    let category = match category {
        Some(c) => c,
        None => {
            let settings = app.settings.get(&tenant).await.map_err(|e| {
                tracing::error!(error = %e, "could not load tenant settings");
                Reply::new(451, Some((4, 3, 0)), "Temporary failure, try again later")
            })?;
            settings.settings.category_for(envelope.mail_from.as_ref().map(|a| a.as_str())).unwrap_or_default()
        }
    };
    let meta = EnvelopeMeta {
        policy,
        require_tls: envelope.requiretls,
        mail_from: envelope.mail_from.map(String::from),
        recipients: envelope
            .recipients
            .into_iter()
            .map(|r| RcptMeta {
                address: r.address.into(),
                kind: RcptKind::To,
                notify: r.notify.as_ref().map(notify_text),
                orcpt: r.orcpt,
            })
            .collect(),
        smtputf8: envelope.smtputf8,
        eight_bit: envelope.body == BodyType::EightBitMime,
        dsn_ret: envelope.ret.map(|r| if r == DsnRet::Full { "FULL".into() } else { "HDRS".into() }),
        dsn_envid: envelope.envid,
        ..EnvelopeMeta::default()
    };
    let sub = Submission { tenant, actor, source: Source::Smtp, category, envelope: meta, raw: data };
    match app.accept.accept(vec![sub], None).await {
        Ok(ids) => Ok(ids.first().map(|id| id.to_string()).unwrap_or_default()),
        Err(e) => {
            tracing::error!(error = %e, "could not commit a message");
            Err(Reply::new(451, Some((4, 3, 0)), "Temporary storage failure, try again later"))
        }
    }
}

//! A private Postfix instance that receives mail on loopback.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::watchdog::{self, Watchdog};
use crate::{Error, Result, free_port, io, is_root};

/// Whether the receiver offers STARTTLS.
#[derive(Debug, Clone)]
pub enum Tls {
    /// STARTTLS offered (`smtpd_tls_security_level = may`) with this
    /// certificate (PEM, leaf first, chain may follow) and key (PEM).
    Offered {
        /// Certificate chain, PEM.
        cert_pem: String,
        /// Private key, PEM.
        key_pem: String,
    },
    /// STARTTLS offered and required before `MAIL FROM` (`encrypt`).
    Required {
        /// Certificate chain, PEM.
        cert_pem: String,
        /// Private key, PEM.
        key_pem: String,
    },
    /// No STARTTLS in the EHLO reply.
    None,
}

/// Options for [`PostfixReceiver::start`].
#[derive(Debug, Clone)]
pub struct PostfixOptions {
    /// STARTTLS or not.
    pub tls: Tls,
    /// `myhostname` (greeting, `Received: by`). Default `mx.test.sealpost`.
    pub hostname: String,
    /// Extra `main.cf` settings (name, value), written last so they override
    /// the defaults, e.g. `("smtpd_tls_protocols", ">=TLSv1.2, <=TLSv1.2")`.
    pub main_cf: Vec<(String, String)>,
}

impl Default for PostfixOptions {
    fn default() -> Self {
        PostfixOptions { tls: Tls::None, hostname: "mx.test.sealpost".into(), main_cf: Vec::new() }
    }
}

impl PostfixOptions {
    /// Default options with `tls`.
    pub fn with_tls(tls: Tls) -> PostfixOptions {
        PostfixOptions { tls, ..PostfixOptions::default() }
    }
}

/// A private Postfix instance (Debian's `postfix` package; needs root) in a
/// tempdir under `/tmp`: its own `config_directory`, `queue_directory` and
/// `data_directory`, services without chroot, `smtpd` on a free
/// 127.0.0.1 port. It accepts mail for every domain from loopback and
/// delivers every recipient into one Maildir, `DIR/mail/inbox/`, as user
/// `nobody`. With TLS, the `Received:` header records the protocol and cipher
/// (`smtpd_tls_received_header = yes`): see [`received_tls`].
///
/// Header rewriting for local clients is off (`local_header_rewrite_clients`
/// empty), so a message arrives as sent, after four prepended trace headers
/// (`Return-Path`, `X-Original-To`, `Delivered-To`, `Received`; see
/// [`strip_trace_headers`]) and with LF line ends (Maildir).
///
/// Dropping it runs `postfix stop` and waits until the master and its
/// children have exited, then removes the directory; a watchdog does the same
/// if the process dies without dropping it.
#[derive(Debug)]
pub struct PostfixReceiver {
    addr: std::net::SocketAddr,
    // Drop order: the directory is removed (after stop in Drop) before the
    // watchdog fires, whose own stop is then a no-op.
    dir: tempfile::TempDir,
    _watchdog: Watchdog,
}

/// Stops the instance when the pipe closes: wait for a `postfix start` in
/// progress (its pid is in `starting.pid`; at most 30 s), `postfix stop`,
/// wait for the master (at most 10 s, then SIGKILL it), remove the
/// directory. `$1` is the directory.
const WATCHDOG: &str = r#"d=$1
cat >/dev/null
s=$(cat "$d/starting.pid" 2>/dev/null)
i=0
while [ -n "$s" ] && kill -0 "$s" 2>/dev/null && [ $i -lt 300 ]; do i=$((i+1)); sleep 0.1; done
p=$(cat "$d/queue/pid/master.pid" 2>/dev/null | tr -d ' ')
postfix -c "$d/etc" stop >/dev/null 2>&1
i=0
while [ -n "$p" ] && kill -0 "$p" 2>/dev/null; do
  i=$((i+1)); [ $i -gt 100 ] && { kill -9 "$p" 2>/dev/null; break; }
  sleep 0.1
done
rm -rf -- "$d""#;

/// Postfix's internal services, no chroot (no copies of /etc needed).
const MASTER_CF: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

impl PostfixReceiver {
    /// Writes the instance and starts it; returns when smtpd accepts
    /// connections. Takes about a second.
    pub fn start(opts: PostfixOptions) -> Result<PostfixReceiver> {
        if !is_root() {
            return Err(Error::Setup("PostfixReceiver needs root (Postfix's master runs as root)".into()));
        }
        if !Path::new("/usr/sbin/postfix").is_file() {
            return Err(Error::Setup("postfix not installed: run scripts/setup-test-env.sh".into()));
        }
        let (nobody_uid, nobody_gid) = user_ids("nobody")?;
        let (postfix_uid, postfix_gid) = user_ids("postfix")?;

        let dir = tempfile::Builder::new().prefix("sealpost-pf-").tempdir_in("/tmp").map_err(io("create pf dir"))?;
        let d = dir.path();
        let ds = d.to_str().ok_or_else(|| Error::Setup("temp dir is not UTF-8".into()))?.to_owned();
        set_mode(d, 0o755)?;
        for sub in ["etc", "queue", "data", "mail"] {
            std::fs::create_dir(d.join(sub)).map_err(io(format!("mkdir {sub}")))?;
        }
        std::os::unix::fs::chown(d.join("data"), Some(postfix_uid), Some(postfix_gid)).map_err(io("chown data"))?;
        std::os::unix::fs::chown(d.join("mail"), Some(nobody_uid), Some(nobody_gid)).map_err(io("chown mail"))?;
        let watchdog = watchdog::spawn(WATCHDOG, &[&ds])?;

        let tls_conf = match &opts.tls {
            Tls::None => "smtpd_tls_security_level = none\n".to_owned(),
            Tls::Offered { cert_pem, key_pem } | Tls::Required { cert_pem, key_pem } => {
                let level = if matches!(opts.tls, Tls::Required { .. }) { "encrypt" } else { "may" };
                let key = d.join("etc/server.key");
                std::fs::write(&key, key_pem).map_err(io("write server key"))?;
                set_mode(&key, 0o600)?;
                std::fs::write(d.join("etc/server.pem"), cert_pem).map_err(io("write server cert"))?;
                format!(
                    "smtpd_tls_chain_files = {ds}/etc/server.key, {ds}/etc/server.pem\n\
                     smtpd_tls_security_level = {level}\n\
                     smtpd_tls_received_header = yes\n\
                     smtpd_tls_loglevel = 1\n\
                     smtpd_tls_session_cache_database =\n"
                )
            }
        };
        let main_cf = format!(
            "# written by sealpost-testkit\n\
             compatibility_level = 3.6\n\
             config_directory = {ds}/etc\n\
             queue_directory = {ds}/queue\n\
             data_directory = {ds}/data\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             myhostname = {host}\n\
             mydomain = test.sealpost\n\
             myorigin = $myhostname\n\
             mydestination =\n\
             inet_interfaces = loopback-only\n\
             inet_protocols = ipv4\n\
             mynetworks = 127.0.0.0/8\n\
             smtpd_peername_lookup = no\n\
             smtp_dns_support_level = disabled\n\
             maillog_file = {ds}/maillog\n\
             maillog_file_prefixes = {ds}\n\
             virtual_mailbox_domains = static:all\n\
             virtual_mailbox_base = {ds}/mail\n\
             virtual_mailbox_maps = static:inbox/\n\
             virtual_uid_maps = static:{nobody_uid}\n\
             virtual_gid_maps = static:{nobody_gid}\n\
             virtual_minimum_uid = 1\n\
             virtual_mailbox_limit = 0\n\
             message_size_limit = 52428800\n\
             smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
             smtpd_recipient_restrictions =\n\
             local_header_rewrite_clients =\n\
             alias_maps =\n\
             alias_database =\n\
             local_recipient_maps =\n\
             {tls_conf}",
            host = opts.hostname,
        );
        let mut main_cf = main_cf;
        for (name, value) in &opts.main_cf {
            main_cf.push_str(&format!("{name} = {value}\n"));
        }
        std::fs::write(d.join("etc/main.cf"), main_cf).map_err(io("write main.cf"))?;

        let mut me = PostfixReceiver { addr: ([127, 0, 0, 1], 0).into(), dir, _watchdog: watchdog };
        let d = me.dir.path().to_owned();
        // The port may be taken between free_port() and the master's bind: retry.
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            me.addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            std::fs::write(d.join("etc/master.cf"), format!("{MASTER_CF}127.0.0.1:{port} inet n - n - - smtpd\n"))
                .map_err(io("write master.cf"))?;
            let starting = d.join("starting.pid");
            let child = Command::new("/usr/sbin/postfix")
                .arg("-c")
                .arg(d.join("etc"))
                .arg("start")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(io("run postfix start"))?;
            // For the watchdog: a start still running when this process dies
            // must end before the instance is stopped and removed.
            let _ = std::fs::write(&starting, child.id().to_string());
            let out = child.wait_with_output().map_err(io("wait for postfix start"))?;
            let _ = std::fs::remove_file(&starting);
            if !out.status.success() {
                return Err(Error::Setup(format!(
                    "postfix start failed: {}{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr),
                    me.maillog()
                )));
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if std::net::TcpStream::connect_timeout(&me.addr, Duration::from_millis(200)).is_ok() {
                    return Ok(me);
                }
                let master_gone = me.master_pid().is_none_or(|p| !alive(p));
                if master_gone || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last = me.maillog();
            me.stop();
            if !last.contains("in use") {
                break;
            }
        }
        Err(Error::Setup(format!("postfix did not come up:\n{last}")))
    }

    /// The smtpd address (127.0.0.1:port).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The instance directory (`etc/`, `queue/`, `mail/inbox/`, `maillog`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The Maildir every recipient's mail goes to.
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail/inbox")
    }

    /// Postfix's log so far (for failure messages).
    pub fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// Every delivered message (files in `new/` and `cur/`), oldest first.
    pub fn maildir_messages(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<(std::time::SystemTime, String, PathBuf)> = ["new", "cur"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(self.maildir().join(sub)).into_iter().flatten())
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let modified = e.metadata().ok()?.modified().ok()?;
                Some((modified, e.file_name().to_string_lossy().into_owned(), e.path()))
            })
            .collect();
        files.sort();
        files.into_iter().filter_map(|(_, _, p)| std::fs::read(p).ok()).collect()
    }

    /// Waits until at least `n` messages are in the Maildir and returns them
    /// all; an error (with the maillog) on timeout.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Result<Vec<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let msgs = self.maildir_messages();
            if msgs.len() >= n {
                return Ok(msgs);
            }
            if Instant::now() >= deadline {
                return Err(Error::Setup(format!(
                    "{} of {n} messages delivered after {timeout:?}; maillog:\n{}",
                    msgs.len(),
                    self.maillog()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn master_pid(&self) -> Option<i32> {
        let s = std::fs::read_to_string(self.dir.path().join("queue/pid/master.pid")).ok()?;
        s.trim().parse().ok()
    }

    /// `postfix stop`, then waits (10 s at most) for the master and the
    /// children it had to exit.
    fn stop(&self) {
        let master = self.master_pid();
        let children = master.map(children_of).unwrap_or_default();
        let _ = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(self.dir.path().join("etc"))
            .arg("stop")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        let all: Vec<(i32, u64)> =
            master.into_iter().map(|p| (p, start_time(p).unwrap_or(0))).chain(children).collect();
        while all.iter().any(|&(p, t)| start_time(p) == Some(t)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PostfixReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `(version, cipher)` from the topmost `Received:` header when Postfix
/// recorded TLS there (`(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 …)`),
/// else None (the message came in clear, or has no `Received:`).
pub fn received_tls(message: &[u8]) -> Option<(String, String)> {
    let received = headers(message).into_iter().find(|(name, _)| name.eq_ignore_ascii_case("Received"))?.1;
    let unfolded = received.split_whitespace().collect::<Vec<_>>().join(" ");
    let rest = &unfolded[unfolded.find("(using ")? + "(using ".len()..];
    let mut words = rest.split(' ');
    let version = words.next()?.to_owned();
    if words.next()? != "with" || words.next()? != "cipher" {
        return None;
    }
    let cipher = words.next()?.trim_end_matches(')').to_owned();
    Some((version, cipher))
}

/// The message without the trace headers the receiver prepends
/// (`Return-Path`, `X-Original-To`, `Delivered-To`, `Received`, each with
/// its continuation lines), i.e. the message as it was sent (with LF ends).
pub fn strip_trace_headers(message: &[u8]) -> &[u8] {
    const TRACE: [&str; 4] = ["Return-Path", "X-Original-To", "Delivered-To", "Received"];
    let mut pos = 0;
    let mut in_trace = false;
    while pos < message.len() {
        let end = message[pos..].iter().position(|&b| b == b'\n').map_or(message.len(), |e| pos + e + 1);
        let line = &message[pos..end];
        let continuation = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        let trace = TRACE.iter().any(|t| {
            line.len() > t.len() && line[..t.len()].eq_ignore_ascii_case(t.as_bytes()) && line[t.len()] == b':'
        });
        if trace || (continuation && in_trace) {
            in_trace = true;
            pos = end;
        } else {
            break;
        }
    }
    &message[pos..]
}

/// Header fields (name, unfolded value) up to the first empty line.
pub fn headers(message: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(message);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    out
}

fn user_ids(name: &str) -> Result<(u32, u32)> {
    let cname = std::ffi::CString::new(name).map_err(|_| Error::Setup("bad user name".into()))?;
    // SAFETY: getpwnam reads a NUL-terminated string and returns a pointer
    // to static storage or NULL; we copy the two fields out at once (tests
    // look up only these fixed names).
    let pw = unsafe { libc::getpwnam(cname.as_ptr()) };
    if pw.is_null() {
        return Err(Error::Setup(format!("no user {name}: install postfix (scripts/setup-test-env.sh)")));
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    Ok(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("chmod {}", path.display())))
}

/// The start time (field 22 of /proc/PID/stat) of a live process: with the
/// pid it identifies the process even if the pid is reused later.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_comm.split(' ').collect();
    // after_comm starts at field 3 (state); field 22 is index 19; a zombie
    // (state Z) has exited.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// The children of `pid` with their start times.
fn children_of(pid: i32) -> Vec<(i32, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        if fields.get(1).and_then(|p| p.parse::<i32>().ok()) == Some(pid)
            && let Some(t) = start_time(child)
        {
            out.push((child, t));
        }
    }
    out
}

fn alive(pid: i32) -> bool {
    start_time(pid).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    #[test]
    fn receives_into_maildir_and_stops_on_drop() {
        let pf = PostfixReceiver::start(PostfixOptions::default()).unwrap();
        let conn = std::net::TcpStream::connect(pf.addr()).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut r = BufReader::new(conn.try_clone().unwrap());
        let mut w = conn;
        let mut reply = || {
            let mut last = String::new();
            loop {
                let mut l = String::new();
                r.read_line(&mut l).unwrap();
                if l.as_bytes().get(3) != Some(&b'-') {
                    last = l;
                    break;
                }
                last.push_str(&l);
            }
            last
        };
        assert!(reply().starts_with("220 mx.test.sealpost"));
        for (cmd, want) in [
            ("EHLO kit.test\r\n", "250"),
            ("MAIL FROM:<a@kit.test>\r\n", "250"),
            ("RCPT TO:<b@anything.example>\r\n", "250"),
            ("DATA\r\n", "354"),
            ("From: a@kit.test\r\nSubject: kit\r\n\r\nhi\r\n.\r\n", "250"),
            ("QUIT\r\n", "221"),
        ] {
            w.write_all(cmd.as_bytes()).unwrap();
            let got = reply();
            assert!(got.starts_with(want), "{cmd:?} -> {got:?}");
        }
        let msgs = pf.wait_for_messages(1, Duration::from_secs(30)).unwrap();
        assert_eq!(strip_trace_headers(&msgs[0]), b"From: a@kit.test\nSubject: kit\n\nhi\n");
        assert_eq!(received_tls(&msgs[0]), None);

        let dir = pf.dir().to_owned();
        let master = pf.master_pid().expect("master.pid");
        let children = children_of(master);
        assert!(!children.is_empty());
        drop(pf);
        assert!(!alive(master), "master still running after drop");
        assert!(children.iter().all(|&(p, t)| start_time(p) != Some(t)), "children still running after drop");
        assert!(!dir.exists(), "directory removed");
    }

    #[test]
    fn parses_received_tls_and_strips_trace() {
        let msg = b"Return-Path: <a@x.test>\nX-Original-To: b@y.test\nDelivered-To: b@y.test\n\
Received: from h (unknown [127.0.0.1])\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\
\t key-exchange X25519)\n\t(No client certificate requested)\n\tby mx.test.sealpost (Postfix) with ESMTPS id 1\n\
From: a@x.test\nSubject: s\n\nbody\n";
        assert_eq!(received_tls(msg), Some(("TLSv1.3".into(), "TLS_AES_256_GCM_SHA384".into())));
        assert_eq!(strip_trace_headers(msg), b"From: a@x.test\nSubject: s\n\nbody\n");
        let plain = b"Received: from h\n\tby mx (Postfix) with ESMTP id 2\nFrom: a@x.test\n\nb\n";
        assert_eq!(received_tls(plain), None);
    }
}

//! A throwaway S3 server (moto).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::watchdog::{self, Watchdog};
use crate::{Error, Result, free_port, io, repo_root};

/// A moto S3 server on a free 127.0.0.1 port, with bucket [`S3::bucket`]
/// created. moto accepts any credentials; these fields are what a client
/// should be configured with.
///
/// moto runs under a watchdog shell (see the crate docs): dropping this, or
/// the process ending, kills it and removes the tempdir holding its log.
#[derive(Debug)]
pub struct S3 {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The bucket created at start.
    pub bucket: String,
    /// Region (`us-east-1`).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    addr: SocketAddr,
    // Drop order: moto is killed (watchdog) before its log dir is removed.
    _watchdog: Watchdog,
    _dir: tempfile::TempDir,
}

/// Runs moto until the pipe closes, then kills it and removes its
/// directory; the shell itself ends when moto ends. `$1` moto_server, `$2`
/// port, `$3` directory (log in `moto.log`). fd 3 keeps the pipe for the
/// background reader (an `&` list's stdin is /dev/null).
const WATCHDOG: &str = r#"exec 3<&0
"$1" -H 127.0.0.1 -p "$2" >"$3/moto.log" 2>&1 </dev/null 3<&- &
m=$!
{ cat <&3 >/dev/null; kill "$m" 2>/dev/null; rm -rf -- "$3"; } &
exec 3<&-
wait "$m""#;

impl S3 {
    /// Starts moto from `.venv-test/` (or `SEALPOST_MOTO_SERVER`) and creates
    /// bucket `sealpost-test`. Takes a few seconds.
    pub fn start() -> Result<S3> {
        let moto = std::env::var_os("SEALPOST_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".venv-test/bin/moto_server"));
        if !moto.is_file() {
            return Err(Error::Setup(format!(
                "moto_server not found at {}: run scripts/setup-test-env.sh",
                moto.display()
            )));
        }
        let moto = moto.to_str().ok_or_else(|| Error::Setup("moto path is not UTF-8".into()))?.to_owned();
        // The port may be taken between free_port() and moto's bind: retry.
        let mut log = String::new();
        for _ in 0..5 {
            let dir = tempfile::Builder::new().prefix("sealpost-s3-").tempdir().map_err(io("create s3 dir"))?;
            let dir_s = dir.path().to_str().ok_or_else(|| Error::Setup("temp dir is not UTF-8".into()))?.to_owned();
            let port = free_port();
            let mut wd = watchdog::spawn(WATCHDOG, &[&moto, &port.to_string(), &dir_s])?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(60);
            while !wd.exited() && Instant::now() < deadline {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    let s3 = S3 {
                        endpoint: format!("http://{addr}"),
                        bucket: "sealpost-test".into(),
                        region: "us-east-1".into(),
                        access_key_id: "sealpost-test-key".into(),
                        secret_access_key: "sealpost-test-secret".into(),
                        addr,
                        _watchdog: wd,
                        _dir: dir,
                    };
                    s3.create_bucket(&s3.bucket)?;
                    return Ok(s3);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let timed_out = !wd.exited();
            log = std::fs::read_to_string(dir.path().join("moto.log")).unwrap_or_default();
            drop(wd);
            if timed_out {
                break;
            }
        }
        Err(Error::Setup(format!("moto_server did not start: {}", log.trim())))
    }

    /// Creates another bucket (`[a-z0-9-]`, 3 to 63 characters).
    pub fn create_bucket(&self, name: &str) -> Result<()> {
        let ok = (3..=63).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(Error::Setup(format!("bucket name {name:?}: use [a-z0-9-], 3 to 63")));
        }
        // A bare path-style PUT: moto checks no signature, and this keeps the
        // kit free of an HTTP client and usable inside or outside a runtime.
        let mut conn = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).map_err(io("connect to moto"))?;
        conn.set_read_timeout(Some(Duration::from_secs(30))).map_err(io("set timeout"))?;
        write!(conn, "PUT /{name} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", self.addr)
            .map_err(io("send create-bucket request"))?;
        let mut reply = String::new();
        conn.read_to_string(&mut reply).map_err(io("read create-bucket reply"))?;
        let status = reply.lines().next().unwrap_or_default();
        if status.split(' ').nth(1) == Some("200") {
            Ok(())
        } else {
            Err(Error::Setup(format!("create bucket {name}: {status}")))
        }
    }

    /// Creates a bucket with a name not used before in this process and
    /// returns it: one per test keeps tests on a shared server apart.
    pub fn fresh_bucket(&self) -> Result<String> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let name = format!("test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        self.create_bucket(&name)?;
        Ok(name)
    }
}

/// One moto server for the whole test binary, started on first use; its
/// watchdog kills it when the process exits. Give each test its own bucket
/// with [`S3::fresh_bucket`].
pub fn shared_s3() -> Result<&'static S3> {
    static SHARED: OnceLock<std::result::Result<S3, String>> = OnceLock::new();
    SHARED.get_or_init(|| S3::start().map_err(|e| e.to_string())).as_ref().map_err(|e| Error::Setup(e.clone()))
}

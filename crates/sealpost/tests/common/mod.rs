//! Shared harness for the end-to-end tests: a real `sealpost serve` process
//! on free loopback ports, on either storage backend, plus small clients
//! (raw SMTP over TCP, HTTPS API, the CLI) and checks on the audit log.
//!
//! Every test binary includes this module; not every binary uses every helper.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use sealpost_testkit::{DataDir, free_port, shared_postgres, shared_s3, wait_for_port};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sealpost");

/// Storage backend written into `sealpost.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite + local blob segments in the data directory.
    Embedded,
    /// A fresh PostgreSQL database (testkit cluster) + a fresh S3 bucket (moto).
    ScaleOut,
}

/// Generates `$embedded` and `$scaleout` tests that run `$body(Backend)`.
#[allow(unused_macros)]
macro_rules! both_backends {
    ($body:ident => $embedded:ident, $scaleout:ident) => {
        #[test]
        fn $embedded() {
            $body($crate::common::Backend::Embedded)
        }
        #[test]
        fn $scaleout() {
            $body($crate::common::Backend::ScaleOut)
        }
    };
}

/// Knobs of the generated configuration.
#[derive(Debug, Clone)]
pub struct Opts {
    /// `limits.max_message_size`.
    pub max_message_size: usize,
    /// `limits.max_batch`.
    pub max_batch: usize,
    /// `auth.max_failures`.
    pub max_failures: u32,
    /// `auth.lockout_seconds`.
    pub lockout_seconds: u64,
    /// `storage.audit_checkpoint_every`.
    pub checkpoint_every: i64,
    /// `SEALPOST_LOG` for `serve`.
    pub log: String,
    /// TOML appended to the generated configuration (e.g. a `[delivery]` table).
    pub extra_toml: String,
    /// Lines added to the generated `[limits]` table (e.g. `tls_handshake_seconds = 1`).
    pub extra_limits: String,
    /// Whether loopback is in `auth.api_lockout_exempt`: the tests share
    /// 127.0.0.1 and many send wrong keys on purpose; the lockout tests
    /// turn this off.
    pub api_lockout_exempt: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            max_message_size: 10 * 1024 * 1024,
            max_batch: 1000,
            max_failures: 5,
            lockout_seconds: 900,
            checkpoint_every: 1000,
            log: "info".into(),
            extra_toml: String::new(),
            extra_limits: String::new(),
            api_lockout_exempt: true,
        }
    }
}

/// Where a server keeps its data, as written into `sealpost.toml`.
#[derive(Debug, Clone)]
pub struct Storage {
    /// `storage.database_url`.
    pub database_url: String,
    /// The `[storage.blobs]` table's body.
    pub blobs: String,
    /// The PostgreSQL URL, for direct queries (PostgreSQL only).
    pub pg_url: Option<String>,
    /// S3 endpoint and bucket (S3 only).
    pub s3: Option<(String, String)>,
}

impl Storage {
    /// SQLite + local blob segments in the data directory.
    pub fn embedded() -> Storage {
        Storage {
            database_url: "sqlite://sealpost.db".to_owned(),
            blobs: LOCAL_BLOBS.to_owned(),
            pg_url: None,
            s3: None,
        }
    }

    /// A fresh PostgreSQL database (testkit cluster) + a fresh S3 bucket (moto).
    pub fn scale_out() -> Storage {
        let url = Storage::fresh_postgres();
        let s3 = shared_s3().expect("moto S3 (run scripts/setup-test-env.sh)");
        let bucket = s3.fresh_bucket().expect("fresh bucket");
        let blobs = format!(
            "kind = \"s3\"\nendpoint = \"{}\"\nbucket = \"{bucket}\"\nregion = \"{}\"\n\
             access_key_id = \"{}\"\nsecret_access_key = \"{}\"\nallow_http = true\n",
            s3.endpoint, s3.region, s3.access_key_id, s3.secret_access_key
        );
        Storage { database_url: url.clone(), blobs, pg_url: Some(url), s3: Some((s3.endpoint.clone(), bucket)) }
    }

    /// PostgreSQL for the metadata (`database_url`, which may be a fresh
    /// database from [`Storage::fresh_postgres`]), local blob segments.
    pub fn postgres_local_blobs(database_url: &str) -> Storage {
        Storage {
            database_url: database_url.to_owned(),
            blobs: LOCAL_BLOBS.to_owned(),
            pg_url: Some(database_url.to_owned()),
            s3: None,
        }
    }

    /// A fresh, empty database on the shared test PostgreSQL cluster.
    pub fn fresh_postgres() -> String {
        let pg = shared_postgres().expect("postgres (run scripts/setup-test-env.sh)");
        pg.fresh_database().expect("fresh database")
    }
}

const LOCAL_BLOBS: &str = "kind = \"local\"\ndir = \"blobs\"\n";

/// Listener ports.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// SMTP submission with STARTTLS.
    pub starttls: u16,
    /// SMTP submission with implicit TLS.
    pub implicit: u16,
    /// Plaintext relay listener for trusted networks (127.0.0.0/8).
    pub relay: u16,
    /// HTTPS API.
    pub https: u16,
}

impl Ports {
    fn fresh() -> Ports {
        Ports { starttls: free_port(), implicit: free_port(), relay: free_port(), https: free_port() }
    }
    fn all(&self) -> [u16; 4] {
        [self.starttls, self.implicit, self.relay, self.https]
    }
}

/// A running `sealpost serve` with its own data directory.
pub struct Server {
    /// The backend.
    pub backend: Backend,
    /// Listener ports.
    pub ports: Ports,
    /// The initial API key (all scopes, tenant `default`).
    pub api_key: String,
    /// The `admin` user's password.
    pub admin_password: String,
    /// The first tenant (`default`).
    pub tenant: String,
    /// PostgreSQL URL (scale-out only).
    pub pg_url: Option<String>,
    /// S3 endpoint and bucket (scale-out only).
    pub s3: Option<(String, String)>,
    /// The configuration.
    pub opts: Opts,
    child: Option<Child>,
    starts: u32,
    database_url: String,
    blobs: String,
    // Dropped after the child is killed (see Drop).
    dir: DataDir,
}

impl Server {
    /// Init + serve with default options.
    pub fn start(backend: Backend) -> Server {
        Server::start_with(backend, Opts::default())
    }

    /// Init + serve.
    pub fn start_with(backend: Backend, opts: Opts) -> Server {
        let storage = match backend {
            Backend::Embedded => Storage::embedded(),
            Backend::ScaleOut => Storage::scale_out(),
        };
        Server::start_on(backend, storage, opts)
    }

    /// Init + serve on the given storage.
    pub fn start_on(backend: Backend, storage: Storage, opts: Opts) -> Server {
        let mut server = Server::unstarted(backend, DataDir::new().expect("data dir"), storage, opts);
        let out = server.cli(&["init", "--json"]);
        assert!(out.status.success(), "init failed: {}", text(&out));
        let v: Value = serde_json::from_slice(&out.stdout).expect("init --json prints JSON");
        for k in ["data_dir", "tenant", "admin_user", "admin_password", "api_key"] {
            assert!(v.get(k).and_then(Value::as_str).is_some(), "init --json lacks {k}: {v}");
        }
        assert_eq!(v["admin_user"], "admin");
        server.api_key = v["api_key"].as_str().unwrap_or_default().to_owned();
        server.admin_password = v["admin_password"].as_str().unwrap_or_default().to_owned();
        server.tenant = v["tenant"].as_str().unwrap_or_default().to_owned();
        server.spawn();
        server
    }

    /// Takes over a data directory that `init` already provisioned (an
    /// upgrade fixture copied into `dir`): writes a configuration with fresh
    /// ports over `storage`, without starting anything. `api_key` is the
    /// key the fixture was made with.
    pub fn adopt(backend: Backend, dir: DataDir, storage: Storage, api_key: &str, opts: Opts) -> Server {
        let mut server = Server::unstarted(backend, dir, storage, opts);
        server.api_key = api_key.to_owned();
        server.tenant = "default".to_owned();
        server
    }

    /// Starts `serve` on an adopted data directory.
    pub fn serve(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.spawn();
    }

    fn unstarted(backend: Backend, dir: DataDir, storage: Storage, opts: Opts) -> Server {
        let server = Server {
            backend,
            ports: Ports::fresh(),
            api_key: String::new(),
            admin_password: String::new(),
            tenant: String::new(),
            pg_url: storage.pg_url,
            s3: storage.s3,
            opts,
            child: None,
            starts: 0,
            database_url: storage.database_url,
            blobs: storage.blobs,
            dir,
        };
        server.write_config(&server.database_url, &server.blobs);
        std::fs::create_dir_all(server.dir.join("logs")).expect("logs dir");
        server
    }

    fn write_config(&self, database_url: &str, blobs: &str) {
        let p = self.ports;
        let o = &self.opts;
        let cfg = format!(
            r#"hostname = "localhost"

[storage]
database_url = "{database_url}"
audit_checkpoint_every = {checkpoint}

[storage.blobs]
{blobs}
[limits]
max_message_size = {max_size}
max_recipients = 100
max_batch = {max_batch}
{extra_limits}

[[smtp]]
addr = "127.0.0.1:{starttls}"
tls = "starttls"

[[smtp]]
addr = "127.0.0.1:{implicit}"
tls = "implicit"

[[smtp]]
addr = "127.0.0.1:{relay}"
tls = "none"
allow_plaintext = true
trusted_networks = ["127.0.0.0/8"]
relay_tenant = "default"

[http]
addr = "127.0.0.1:{https}"

[auth]
max_failures = {max_failures}
lockout_seconds = {lockout}
failure_delay_ms = 50
api_lockout_exempt = {exempt}
"#,
            checkpoint = o.checkpoint_every,
            max_size = o.max_message_size,
            max_batch = o.max_batch,
            extra_limits = o.extra_limits,
            starttls = p.starttls,
            implicit = p.implicit,
            relay = p.relay,
            https = p.https,
            max_failures = o.max_failures,
            lockout = o.lockout_seconds,
            exempt = if o.api_lockout_exempt { r#"["127.0.0.0/8", "::1/128"]"# } else { "[]" },
        );
        // Delivery is on by default; a test that does not configure it must
        // not send its messages anywhere (the system resolver, port 25).
        let delivery = if o.extra_toml.contains("[delivery]") { "" } else { "\n[delivery]\nenabled = false\n" };
        let cfg = format!("{cfg}\n{}\n{delivery}", o.extra_toml);
        std::fs::write(self.dir.join("sealpost.toml"), cfg).expect("write sealpost.toml");
    }

    /// Starts `serve` (stdout and stderr to `DATA/logs/serve-N.log`) and waits
    /// until it says it runs and every port accepts. Retries on new ports if
    /// a port was taken meanwhile.
    fn spawn(&mut self) {
        let mut last_log = String::new();
        for _attempt in 0..4 {
            self.starts += 1;
            let log_path = self.serve_log_path();
            let log = File::create(&log_path).expect("log file");
            let child = Command::new(BIN)
                .arg("--data")
                .arg(self.dir.path())
                .arg("serve")
                .env("SEALPOST_LOG", &self.opts.log)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log fd"))
                .stderr(log)
                .spawn()
                .expect("spawn sealpost serve");
            self.child = Some(child);
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                if text.contains("Sealpost is running") && text.contains("https API") {
                    for port in self.ports.all() {
                        assert!(
                            wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(30)),
                            "port {port} never accepted; log:\n{text}"
                        );
                    }
                    return;
                }
                let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                if let Some(status) = exited {
                    self.child = None;
                    last_log = format!("exit {status}: {text}");
                    if text.contains("binding") || text.contains("in use") {
                        // A port was taken between free_port() and the bind.
                        self.ports = Ports::fresh();
                        let (db, blobs) = (self.database_url.clone(), self.blobs.clone());
                        self.write_config(&db, &blobs);
                        break;
                    }
                    panic!("sealpost serve exited during start: {last_log}");
                }
                assert!(Instant::now() < deadline, "sealpost serve did not become ready in 90 s:\n{text}");
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        panic!("sealpost serve could not bind its ports: {last_log}");
    }

    /// Where the current `serve` logs.
    fn serve_log_path(&self) -> PathBuf {
        self.dir.join(format!("logs/serve-{}.log", self.starts))
    }

    /// What the current `serve` has logged so far.
    pub fn serve_log(&self) -> String {
        std::fs::read_to_string(self.serve_log_path()).unwrap_or_default()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, no cleanup by the server.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (at most 30 s, then SIGKILL). Returns the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
        unsafe {
            libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("sealpost serve ignored SIGTERM for 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops (SIGTERM) if running, then starts again on the same data and ports.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.stop();
            assert!(status.is_some_and(|s| s.success()), "serve did not exit cleanly: {status:?}");
        }
        self.spawn();
    }

    /// Starts again after `kill9` or `stop`.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn();
    }

    /// Runs `sealpost --data DIR ARGS…`.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_env(args, &[])
    }

    /// Runs the CLI with extra environment variables.
    pub fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("--data").arg(self.dir.path()).args(args).stdin(Stdio::null());
        cmd.env("SEALPOST_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run sealpost CLI")
    }

    /// `message show ID --raw` (tenant `default`), asserting success.
    pub fn show_raw(&self, id: &str) -> Vec<u8> {
        let out = self.cli(&["message", "show", id, "--raw"]);
        assert!(out.status.success(), "message show {id} --raw failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// Every audit event, from `audit export` (JSON lines).
    pub fn audit_events(&self) -> Vec<Value> {
        let out = self.cli(&["audit", "export", "--format", "jsonl"]);
        assert!(out.status.success(), "audit export failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad export line {l:?}: {e}")))
            .collect()
    }

    /// How many audit events have `action`.
    pub fn count_action(&self, action: &str) -> usize {
        self.audit_events().iter().filter(|e| e["action"] == action).count()
    }

    /// `audit verify`: (exit code, stdout).
    pub fn audit_verify(&self) -> (i32, String) {
        let out = self.cli(&["audit", "verify"]);
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Rows in the `messages` table, read directly from the database.
    pub fn message_rows(&self) -> i64 {
        self.sql_scalar("SELECT count(*) FROM messages")
    }

    /// `message.accepted` (or any action) events, counted in the database directly
    /// (fast; `count_action` goes through `audit export`).
    pub fn count_action_db(&self, action: &str) -> i64 {
        assert!(action.bytes().all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'));
        self.sql_scalar(&format!("SELECT count(*) FROM audit_events WHERE action = '{action}'"))
    }

    /// (message rows, queue rows, `message.accepted` events): what "stored" means.
    pub fn stored(&self) -> (i64, i64, i64) {
        (self.message_rows(), self.sql_scalar("SELECT count(*) FROM queue"), self.count_action_db("message.accepted"))
    }

    /// GET /v1/messages/{id} with the initial key; asserts 200.
    pub fn api_state(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/messages/{id}"), &self.api_key);
        assert_eq!(status, 200, "GET state {id}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("state JSON")
    }

    /// GET /v1/messages/{id} until its first recipient is in state `want`
    /// (or `timeout` passes); returns the last state seen.
    pub fn wait_state(&self, id: &str, want: &str, timeout: Duration) -> Value {
        let end = std::time::Instant::now() + timeout;
        loop {
            let s = self.api_state(id);
            if s["recipients"][0]["state"] == want || std::time::Instant::now() > end {
                return s;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// GET /v1/messages/{id}/raw with the initial (admin) key; asserts 200.
    pub fn api_raw(&self, id: &str) -> Vec<u8> {
        let (status, body) = self.get(&format!("/v1/messages/{id}/raw"), &self.api_key);
        assert_eq!(status, 200, "GET raw {id}: {}", String::from_utf8_lossy(&body));
        body
    }

    /// Runs a one-column text query on the backend's database.
    pub fn sql_column(&self, sql: &str) -> Vec<String> {
        match self.backend {
            Backend::Embedded => {
                let conn = rusqlite::Connection::open(self.dir.join("sealpost.db")).expect("open sqlite");
                conn.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
                let mut st = conn.prepare(sql).expect("prepare");
                let rows = st.query_map([], |r| r.get::<_, String>(0)).expect("query");
                rows.map(|r| r.expect("row")).collect()
            }
            Backend::ScaleOut => psql(self.pg_url.as_deref().unwrap_or_default(), sql)
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Runs a scalar SQL query on the backend's database.
    pub fn sql_scalar(&self, sql: &str) -> i64 {
        match self.backend {
            Backend::Embedded => {
                let conn = rusqlite::Connection::open(self.dir.join("sealpost.db")).expect("open sqlite");
                conn.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
                conn.query_row(sql, [], |r| r.get(0)).expect("sqlite query")
            }
            Backend::ScaleOut => {
                let out = psql(self.pg_url.as_deref().unwrap_or_default(), sql);
                out.trim().parse().unwrap_or_else(|e| panic!("psql {sql}: {out:?}: {e}"))
            }
        }
    }

    /// An HTTPS client that accepts the self-signed certificate.
    pub fn http(&self) -> reqwest::blocking::Client {
        http_client()
    }

    /// `https://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.ports.https)
    }

    /// POST JSON with a bearer key; (status, JSON body).
    pub fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        let r = self.http().post(self.url(path)).bearer_auth(key).json(body).send().expect("POST");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    /// GET with a bearer key; (status, body bytes).
    pub fn get(&self, path: &str, key: &str) -> (u16, Vec<u8>) {
        let r = self.http().get(self.url(path)).bearer_auth(key).send().expect("GET");
        let status = r.status().as_u16();
        (status, r.bytes().expect("body").to_vec())
    }

    /// Creates an API key with `scopes` for `tenant`; returns it.
    pub fn create_api_key(&self, tenant: &str, scopes: &str) -> String {
        let out = self.cli(&["apikey", "create", "--tenant", tenant, "--scopes", scopes]);
        assert!(out.status.success(), "apikey create: {}", text(&out));
        let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(key.starts_with("sp_"), "unexpected key output {key:?}");
        key
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Imports (CLI `import`) an mbox of messages dated January 2015, one per
/// subject: `To: p{i}@example.net`, `Message-ID: <{tag}-{i}@example.org>`,
/// body `Body {i}`. Asserts the import succeeded.
pub fn import_mbox(server: &Server, tag: &str, subjects: &[&str]) {
    let mut mbox = String::new();
    for (i, subject) in subjects.iter().enumerate() {
        mbox.push_str(&format!(
            "From records@example.org Mon Jan  5 09:00:00 2015\nFrom: records@example.org\nTo: p{i}@example.net\n\
             Subject: {subject}\nDate: Mon, 05 Jan 2015 09:00:0{i} +0000\nMessage-ID: <{tag}-{i}@example.org>\n\n\
             Body {i}\n\n"
        ));
    }
    let path = server.data_dir().join(format!("{tag}.mbox"));
    std::fs::write(&path, mbox).expect("write mbox");
    let out = server.cli(&["import", path.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "import: {}", text(&out));
}

/// Runs swaks; (exit success, full transcript).
pub fn swaks(args: &[&str]) -> (bool, String) {
    let out = Command::new("swaks")
        .args(["--timeout", "60"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run swaks (scripts/setup-test-env.sh installs it)");
    (out.status.success(), text(&out))
}

/// The id from a transcript's `250 2.0.0 Ok: queued as <id>`.
pub fn queued_id_in(transcript: &str) -> Option<String> {
    let (_, rest) = transcript.split_once("250 2.0.0 Ok: queued as ")?;
    Some(rest.split_whitespace().next()?.to_owned())
}

/// The HTTPS client used by the tests.
pub fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// Runs `psql -At` on `url`; returns stdout.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .stdin(Stdio::null())
        .output()
        .expect("run psql");
    assert!(out.status.success(), "psql {sql}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stdout + stderr of a finished command.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Standard base64.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Dot-stuffs content for the wire (our own, independent of the product).
pub fn dot_stuff(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 16);
    let mut line_start = true;
    for &b in content {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    out
}

/// An SMTP reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The code.
    pub code: u16,
    /// Every line, without the code and separator.
    pub lines: Vec<String>,
}

impl Reply {
    /// All text joined by newlines.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
    /// The id in `250 2.0.0 Ok: queued as <id>`.
    pub fn queued_id(&self) -> Option<String> {
        if self.code != 250 {
            return None;
        }
        let last = self.lines.last()?;
        let id = last.strip_prefix("2.0.0 Ok: queued as ")?;
        Some(id.trim().to_owned())
    }
}

/// A plain-TCP SMTP client speaking line by line.
pub struct Smtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Smtp {
    /// Connects and reads the greeting (asserted 220).
    pub fn connect(port: u16) -> Smtp {
        let mut s = Smtp::try_connect(port).expect("connect to smtp");
        let g = s.read_reply().expect("greeting");
        assert_eq!(g.code, 220, "greeting: {g:?}");
        s
    }

    /// Connects; the greeting is not read.
    pub fn try_connect(port: u16) -> std::io::Result<Smtp> {
        let stream = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.set_write_timeout(Some(Duration::from_secs(60)))?;
        stream.set_nodelay(true)?;
        Ok(Smtp { reader: BufReader::new(stream.try_clone()?), writer: stream })
    }

    /// Reads one (possibly multi-line) reply.
    pub fn read_reply(&mut self) -> std::io::Result<Reply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line)?;
            if n == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.len() < 3 {
                return Err(std::io::Error::other(format!("short reply line {line:?}")));
            }
            let code: u16 = line[..3].parse().map_err(|_| std::io::Error::other(format!("bad reply {line:?}")))?;
            let sep = line.as_bytes().get(3).copied().unwrap_or(b' ');
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if sep != b'-' {
                return Ok(Reply { code, lines });
            }
        }
    }

    /// Writes raw bytes.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// Sends `line` + CRLF and reads the reply.
    pub fn try_cmd(&mut self, line: &str) -> std::io::Result<Reply> {
        self.write(format!("{line}\r\n").as_bytes())?;
        self.read_reply()
    }

    /// Sends a command; panics on I/O errors.
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.try_cmd(line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    /// Sends a command and asserts the reply code.
    pub fn expect(&mut self, line: &str, code: u16) -> Reply {
        let r = self.cmd(line);
        assert_eq!(r.code, code, "{line} -> {r:?}");
        r
    }

    /// After `354`: sends `content` dot-stuffed plus the terminator; returns the reply.
    pub fn try_data_content(&mut self, content: &[u8]) -> std::io::Result<Reply> {
        let mut wire = dot_stuff(content);
        if !wire.ends_with(b"\r\n") && !wire.is_empty() {
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b".\r\n");
        self.write(&wire)?;
        self.read_reply()
    }

    /// MAIL, RCPT, DATA, content; the final reply.
    pub fn try_send(&mut self, from: &str, to: &str, content: &[u8]) -> std::io::Result<Reply> {
        let r = self.try_cmd(&format!("MAIL FROM:<{from}>"))?;
        if r.code != 250 {
            return Ok(r);
        }
        let r = self.try_cmd(&format!("RCPT TO:<{to}>"))?;
        if r.code != 250 {
            return Ok(r);
        }
        let r = self.try_cmd("DATA")?;
        if r.code != 354 {
            return Ok(r);
        }
        self.try_data_content(content)
    }

    /// Closes the TCP connection abruptly.
    pub fn shutdown(self) {
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }
}

/// Sends one message over the relay listener (no AUTH); returns the queued id.
pub fn relay_send(port: u16, from: &str, to: &str, content: &[u8]) -> String {
    let mut s = Smtp::connect(port);
    s.expect("EHLO client.example", 250);
    let r = s.try_send(from, to, content).expect("send");
    let id = r.queued_id().unwrap_or_else(|| panic!("not queued: {r:?}"));
    let _ = s.try_cmd("QUIT");
    id
}

/// A small valid message with a unique marker in the body.
pub fn simple_message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Clinic <clinic@example.org>\r\nTo: patient@example.net\r\nSubject: {subject}\r\n\
         Message-ID: <{}@test.example>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n{body}\r\n",
        unique()
    )
    .into_bytes()
}

/// A unique token for this process.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), fastrand::u64(..))
}

/// Waits until `f` returns true (polling), panicking after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every regular file under `root` (recursively, not following symlinks).
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

/// Reads a whole file, or None if it cannot be read.
pub fn read_file(p: &Path) -> Option<Vec<u8>> {
    let mut f = File::open(p).ok()?;
    let mut v = Vec::new();
    f.read_to_end(&mut v).ok()?;
    Some(v)
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let ft = e.file_type().expect("file type");
        let dest = to.join(e.file_name());
        if ft.is_dir() {
            copy_dir(&e.path(), &dest);
        } else if ft.is_file() {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// Whether `hay` contains `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && memchr::memmem::find(hay, needle).is_some()
}

/// A GnuPG home with one encryption key; the agent is killed on drop.
pub struct Gpg {
    /// The GnuPG home.
    pub home: tempfile::TempDir,
}

impl Gpg {
    /// A new home with an RSA-3072 encryption key for `uid`.
    pub fn new(uid: &str) -> Gpg {
        let home = tempfile::tempdir().expect("gnupg home");
        std::fs::set_permissions(home.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
        let g = Gpg { home };
        let out = g.run(&["--batch", "--passphrase", "", "--quick-gen-key", uid, "rsa3072", "encr", "never"], None);
        assert!(out.status.success(), "gpg keygen: {}", String::from_utf8_lossy(&out.stderr));
        g
    }
    /// Runs gpg in this home.
    pub fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
        use std::io::Write;
        let mut child = std::process::Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("gpg (scripts/setup-test-env.sh installs gnupg)");
        if let Some(data) = stdin {
            child.stdin.take().expect("stdin").write_all(data).expect("write stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("gpg")
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = std::process::Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .status();
    }
}

//! A throwaway PostgreSQL cluster.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::watchdog::{self, Watchdog};
use crate::{Error, Result, free_port, io, is_root};

/// A private PostgreSQL cluster: `initdb` into a tempdir, `pg_ctl start` on a
/// free 127.0.0.1 port with its unix socket in that tempdir, `trust` auth for
/// user `postgres`, `fsync=on` (the durability tests need real syncs).
///
/// The binaries are the newest `/usr/lib/postgresql/*/bin` (or
/// `SEALPOST_TEST_PG_BIN`). As root, every server command runs as user
/// `postgres` through `runuser`, and the tempdir is under `/tmp` (which that
/// user can traverse) and owned by it.
///
/// Dropping it stops the cluster (`pg_ctl -m immediate stop`: it holds only
/// test data) and removes the directory. A watchdog does the same if the
/// process ends without dropping it (see the crate docs), which is what makes
/// [`shared_postgres`] safe.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    port: u16,
    // Field order is drop order: the directory goes before the watchdog,
    // whose own cleanup is then a no-op.
    dir: tempfile::TempDir,
    _watchdog: Watchdog,
}

/// Stops and removes the cluster when the pipe closes. `$1` is the directory,
/// the rest is the `pg_ctl` command (with `runuser` in front as root).
const WATCHDOG: &str = r#"d=$1; shift
cat >/dev/null
"$@" -D "$d/data" -m immediate -w -t 30 stop
rm -rf -- "$d""#;

impl Postgres {
    /// initdb + start. Takes a few seconds.
    pub fn start() -> Result<Postgres> {
        let bin = pg_bin()?;
        let base = if is_root() { PathBuf::from("/tmp") } else { std::env::temp_dir() };
        let dir = tempfile::Builder::new().prefix("sealpost-pg-").tempdir_in(&base).map_err(io("create pg dir"))?;
        let path = dir.path().to_str().ok_or_else(|| Error::Setup("temp dir is not UTF-8".into()))?.to_owned();
        if is_root() {
            run(Command::new("chown").args(["postgres:postgres", &path]), "chown the cluster dir to postgres")?;
        }
        let pg_ctl = bin.join("pg_ctl");
        let pg_ctl = pg_ctl.to_str().ok_or_else(|| Error::Setup("pg_ctl path is not UTF-8".into()))?;
        let mut wd_args = vec![path.as_str()];
        if is_root() {
            wd_args.extend(["runuser", "-u", "postgres", "--"]);
        }
        wd_args.push(pg_ctl);
        let watchdog = watchdog::spawn(WATCHDOG, &wd_args)?;

        let data = dir.path().join("data");
        run(
            as_postgres(&bin.join("initdb")).arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]),
            "initdb",
        )?;

        // The port may be taken between free_port() and the bind: retry.
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let opts = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{path}' \
                 -c fsync=on -c max_connections=300"
            );
            let started = as_postgres(&bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.path().join("log"))
                .args(["-w", "-t", "60", "-o", &opts, "start"])
                .stdin(Stdio::null())
                .output()
                .map_err(io("run pg_ctl start"))?;
            if started.status.success() {
                return Ok(Postgres { bin, port, dir, _watchdog: watchdog });
            }
            last =
                format!("{}\n{}", text(&started), std::fs::read_to_string(dir.path().join("log")).unwrap_or_default());
            if !last.contains("could not bind") && !last.contains("in use") {
                break;
            }
        }
        Err(Error::Setup(format!("pg_ctl start failed:\n{last}")))
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (data in `data/`, log in `log`, socket here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The postmaster's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        let pidfile = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).ok()?;
        pidfile.lines().next()?.trim().parse().ok()
    }

    /// Creates database `name` (`[a-z0-9_]`, as tests pass literals) and
    /// returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String> {
        let ok = !name.is_empty()
            && name.len() < 64
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(Error::Setup(format!("database name {name:?}: use [a-z0-9_], at most 63")));
        }
        let port = self.port.to_string();
        run(
            Command::new(self.bin.join("psql"))
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", &port, "-U", "postgres"])
                .args(["-d", "postgres", "-c", &format!("CREATE DATABASE {name}")]),
            "psql CREATE DATABASE",
        )?;
        Ok(self.url_for(name))
    }

    /// Creates a database with a name not used before in this process and
    /// returns its URL: one per test keeps tests on a shared cluster apart.
    pub fn fresh_database(&self) -> Result<String> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.create_database(&format!("test_{}_{n}", std::process::id()))
    }

    fn url_for(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "-t", "30", "stop"])
            .stdin(Stdio::null())
            .output();
    }
}

/// One cluster for the whole test binary, started on first use. It is never
/// dropped (it is a `static`): its watchdog stops it and removes its
/// directory when the process exits. Give each test its own database with
/// [`Postgres::fresh_database`].
pub fn shared_postgres() -> Result<&'static Postgres> {
    static SHARED: OnceLock<std::result::Result<Postgres, String>> = OnceLock::new();
    SHARED.get_or_init(|| Postgres::start().map_err(|e| e.to_string())).as_ref().map_err(|e| Error::Setup(e.clone()))
}

fn pg_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("SEALPOST_TEST_PG_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("pg_ctl").is_file())
        .max_by_key(|(v, _)| *v);
    newest
        .map(|(_, bin)| bin)
        .ok_or_else(|| Error::Setup("no PostgreSQL under /usr/lib/postgresql: run scripts/setup-test-env.sh".into()))
}

/// A command run as user `postgres` when we are root (initdb refuses root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.stdin(Stdio::null()).output().map_err(io(what))?;
    if out.status.success() { Ok(()) } else { Err(Error::Setup(format!("{what} failed: {}", text(&out)))) }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)).trim().to_owned()
}

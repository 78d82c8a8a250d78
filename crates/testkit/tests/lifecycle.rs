//! The peers start, work, and leave nothing behind — also when the process
//! exits without dropping them (the `shared_*` case).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sealpost_testkit::{DataDir, Postgres, S3, shared_postgres, shared_s3, wait_for_port};

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
}

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn postgres_starts_creates_databases_and_is_gone_after_drop() {
    let pg = Postgres::start().unwrap();
    let (dir, pid) = (pg.dir().to_path_buf(), pg.pid().unwrap());
    assert!(alive(pid));
    assert!(wait_for_port(([127, 0, 0, 1], pg.port()).into(), Duration::from_secs(1)));
    let url = pg.create_database("lifecycle_db").unwrap();
    assert_eq!(url, format!("postgres://postgres@127.0.0.1:{}/lifecycle_db", pg.port()));
    assert!(pg.create_database("lifecycle_db").is_err(), "a second CREATE DATABASE must fail");
    assert!(pg.create_database("bad-name; DROP").is_err());
    drop(pg);
    assert!(!alive(pid), "postmaster {pid} still running after drop");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn s3_starts_with_a_bucket_and_is_gone_after_drop() {
    let s3 = S3::start().unwrap();
    let addr = s3.endpoint.trim_start_matches("http://").parse().unwrap();
    assert!(s3.create_bucket(&s3.bucket).is_ok() || s3.create_bucket("second-bucket").is_ok());
    assert!(s3.create_bucket("Bad_Name").is_err());
    drop(s3);
    assert!(!wait_for_port(addr, Duration::from_millis(300)), "moto still listening on {addr}");
}

#[test]
fn data_dir_is_removed_on_drop() {
    let d = DataDir::new().unwrap();
    std::fs::write(d.join("x"), b"x").unwrap();
    let p = d.path().to_path_buf();
    drop(d);
    assert!(!p.exists());
}

/// Runs only as the child of `shared_peers_stop_when_the_process_exits`:
/// starts the shared peers, prints their handles, and exits without any
/// destructor running.
#[test]
fn child_starts_shared_peers_and_exits() {
    if std::env::var_os("SEALPOST_TESTKIT_CHILD").is_none() {
        return;
    }
    let pg = shared_postgres().unwrap();
    let s3 = shared_s3().unwrap();
    println!("PEERS {} {} {}", pg.pid().unwrap(), pg.dir().display(), s3.endpoint.trim_start_matches("http://"));
    std::process::exit(0);
}

#[test]
fn shared_peers_stop_when_the_process_exits() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_starts_shared_peers_and_exits", "--nocapture", "--test-threads=1"])
        .env("SEALPOST_TESTKIT_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("PEERS ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("child printed no PEERS line:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    let mut parts = line.split(' ');
    let pid: u32 = parts.next().unwrap().parse().unwrap();
    let dir = Path::new(parts.next().unwrap()).to_path_buf();
    let s3_addr = parts.next().unwrap().parse().unwrap();
    eventually("the postmaster stops", || !alive(pid));
    eventually("the cluster dir is removed", || !dir.exists());
    eventually("moto stops listening", || !wait_for_port(s3_addr, Duration::from_millis(100)));
}

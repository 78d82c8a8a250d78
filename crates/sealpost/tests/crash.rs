//! Crash safety (R-IN-4, SPEC §5 durability): SMTP load on the relay
//! listener while the server is SIGKILLed at random moments and restarted;
//! afterwards every acknowledged message is present and byte-identical, every
//! stored row is readable, and the audit chain verifies.

#[macro_use]
mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Backend, Server, Smtp, sha256_hex};

const LOAD_THREADS: usize = 4;

/// One acknowledged message: id and SHA-256 of the content sent.
struct Acked {
    id: String,
    sha256: String,
}

/// A unique message of a random size with a known body.
fn message(thread: usize, seq: u64) -> Vec<u8> {
    let tag = format!("t{thread}-n{seq}-{}", fastrand::u64(..));
    let mut m = format!(
        "From: load@example.org\r\nTo: sink@example.net\r\nSubject: load {tag}\r\nMessage-ID: <{tag}@load.example>\r\n\r\n"
    );
    let lines = fastrand::usize(1..60);
    for i in 0..lines {
        m.push_str(&format!("{tag} line {i} {}\r\n", fastrand::u64(..)));
    }
    if fastrand::bool() {
        m.push_str(".a dot line\r\n");
    }
    m.into_bytes()
}

/// Sends messages until `stop`; reconnects on any error (the server dies).
fn load(thread: usize, port: u16, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<Acked>>>) -> u64 {
    let mut seq = 0u64;
    let mut errors = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = Smtp::try_connect(port) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let ok =
            s.read_reply().is_ok_and(|g| g.code == 220) && s.try_cmd("EHLO load.example").is_ok_and(|r| r.code == 250);
        if !ok {
            errors += 1;
            continue;
        }
        while !stop.load(Ordering::Relaxed) {
            seq += 1;
            let content = message(thread, seq);
            match s.try_send("load@example.org", "sink@example.net", &content) {
                Ok(r) => {
                    if let Some(id) = r.queued_id() {
                        acked.lock().expect("lock").push(Acked { id, sha256: sha256_hex(&content) });
                    } else {
                        // 4xx while shutting down is fine; anything else is not.
                        assert!(r.code >= 400 && r.code < 500, "unexpected reply under load: {r:?}");
                        break;
                    }
                }
                Err(_) => {
                    errors += 1;
                    break;
                }
            }
        }
    }
    errors
}

fn crash_safety(backend: Backend) {
    let started = Instant::now();
    let mut server = Server::start(backend);
    let port = server.ports.relay;
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let threads: Vec<_> = (0..LOAD_THREADS)
        .map(|t| {
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || load(t, port, stop, acked))
        })
        .collect();

    let kills = fastrand::usize(3..=5);
    let mut acked_before_kill = Vec::new();
    for _ in 0..kills {
        let delay = Duration::from_millis(fastrand::u64(200..=1500));
        std::thread::sleep(delay);
        acked_before_kill.push(acked.lock().expect("lock").len());
        server.kill9();
        server.start_again();
    }
    // Let the load run a little on the last incarnation, then stop it.
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("load thread panicked");
    }
    let acked = std::mem::take(&mut *acked.lock().expect("lock"));
    eprintln!(
        "{backend:?}: {kills} kills, {} messages acknowledged (at each kill: {acked_before_kill:?}), load took {:?}",
        acked.len(),
        started.elapsed()
    );
    assert!(acked.len() >= 20, "too little load to mean anything: {}", acked.len());
    let progress = acked_before_kill.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(progress >= 1, "no message was acknowledged between kills: {acked_before_kill:?}");

    // Every acknowledged id is unique, present and byte-identical.
    let ids: HashSet<&str> = acked.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), acked.len(), "an id was acknowledged twice");
    let stored: HashSet<String> = server.sql_column("SELECT id FROM messages").into_iter().collect();
    let missing: Vec<&str> = acked.iter().filter(|a| !stored.contains(&a.id)).map(|a| a.id.as_str()).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged messages lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );

    // Read every stored message back over the API (acknowledged or not: a
    // row without a readable blob would be half-written state).
    let all: Vec<String> = stored.into_iter().collect();
    let expected: std::collections::HashMap<&str, &str> =
        acked.iter().map(|a| (a.id.as_str(), a.sha256.as_str())).collect();
    let failures: Mutex<Vec<String>> = Mutex::default();
    // Every message is unique by construction: equal bytes mean a duplicate.
    let shas: Mutex<HashSet<String>> = Mutex::default();
    std::thread::scope(|scope| {
        for chunk in all.chunks(all.len().div_ceil(4).max(1)) {
            let (server, failures, expected, shas) = (&server, &failures, &expected, &shas);
            scope.spawn(move || {
                let http = server.http();
                for id in chunk {
                    let r = http.get(server.url(&format!("/v1/messages/{id}/raw"))).bearer_auth(&server.api_key).send();
                    let problem = match r {
                        Ok(r) if r.status().as_u16() == 200 => {
                            let bytes = r.bytes().expect("body");
                            let sha = sha256_hex(&bytes);
                            if !shas.lock().expect("lock").insert(sha) {
                                failures.lock().expect("lock").push(format!("{id}: same content stored twice"));
                            }
                            match expected.get(id.as_str()) {
                                Some(sha) if sha256_hex(&bytes) != *sha => Some(format!("{id}: bytes differ")),
                                _ => None,
                            }
                        }
                        Ok(r) => Some(format!("{id}: HTTP {}", r.status())),
                        Err(e) => Some(format!("{id}: {e}")),
                    };
                    if let Some(p) = problem {
                        failures.lock().expect("lock").push(p);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("lock");
    assert!(
        failures.is_empty(),
        "{} stored messages unreadable or changed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    // The CLI reads the same bytes (a few samples), and the state's sha256 agrees.
    for a in acked.iter().step_by((acked.len() / 3).max(1)).take(3) {
        assert_eq!(sha256_hex(&server.show_raw(&a.id)), a.sha256, "CLI readback of {}", a.id);
        assert_eq!(server.api_state(&a.id)["sha256"], a.sha256.as_str());
    }

    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "audit verify after crashes: {out}");
    assert!(out.starts_with("OK: "), "{out}");
    let accepted = server.count_action_db("message.accepted") as usize;
    assert!(accepted >= acked.len(), "fewer message.accepted events ({accepted}) than acknowledged messages");
    assert_eq!(accepted as i64, server.message_rows(), "message.accepted events and rows disagree");
    eprintln!("{backend:?}: total {:?}", started.elapsed());
}

both_backends!(crash_safety => crash_safety_embedded, crash_safety_scaleout);

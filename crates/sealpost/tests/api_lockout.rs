//! Bearer tokens get the failure delay and lockout SMTP logins get (issue
//! 13.7): failures count per client address and per presented key id; a
//! locked-out caller is answered 429 with `Retry-After`, without its key
//! being checked.

mod common;

use common::{Backend, Opts, Server};

const LOCKOUT: u64 = 120;

fn server(exempt_loopback: bool) -> Server {
    Server::start_with(
        Backend::Embedded,
        Opts { max_failures: 3, lockout_seconds: LOCKOUT, api_lockout_exempt: exempt_loopback, ..Opts::default() },
    )
}

/// (status, Retry-After) of `GET /v1/settings` with `key`.
fn settings(s: &Server, key: &str) -> (u16, Option<String>) {
    let r = s.http().get(s.url("/v1/settings")).bearer_auth(key).send().expect("GET");
    let retry = r.headers().get("retry-after").map(|v| v.to_str().expect("ascii").to_owned());
    (r.status().as_u16(), retry)
}

#[test]
fn repeated_bad_tokens_lock_the_client_address_out() {
    let s = server(false);
    assert_eq!(settings(&s, &s.api_key).0, 200, "the admin key works before");
    for i in 0..2 {
        assert_eq!(settings(&s, "sp_nothing_here").0, 401, "failure {i}");
    }
    // The third failure locks the address: answered 429 at once.
    let (status, retry) = settings(&s, "sp_nothing_here");
    assert_eq!(status, 429);
    assert_eq!(retry.as_deref(), Some(LOCKOUT.to_string().as_str()));
    // Locked out means locked out: a valid key from this address waits too.
    let (status, retry) = settings(&s, &s.api_key);
    assert_eq!((status, retry.is_some()), (429, true), "a locked address is refused even with a valid key");
    // Requests without any token count as failures from the address as well.
    let r = s.http().get(s.url("/v1/settings")).send().expect("GET");
    assert_eq!(r.status().as_u16(), 429);
}

#[test]
fn guessing_a_keys_secret_locks_that_key_but_not_others() {
    // Loopback exempt from the address lockout (a proxy in front): the
    // presented key's own lockout still applies.
    let s = server(true);
    let victim = s.create_api_key("default", "admin");
    let other = s.create_api_key("default", "admin");
    let (prefix, _secret) = victim.rsplit_once('_').expect("sp_<id>_<secret>");
    let guess = format!("{prefix}_wrongsecretwrongsecret");
    for i in 0..2 {
        assert_eq!(settings(&s, &guess).0, 401, "guess {i}");
    }
    assert_eq!(settings(&s, &guess).0, 429, "the third wrong secret locks the key");
    assert_eq!(settings(&s, &victim).0, 429, "the key itself is locked, whatever the secret");
    assert_eq!(settings(&s, &other).0, 200, "another key from the same (exempt) address works");
    // Tokens that name no key only count against the (exempt) address.
    for _ in 0..5 {
        assert_eq!(settings(&s, "sp_nothing_here").0, 401);
    }
    assert_eq!(settings(&s, &other).0, 200);
}

//! Drives an SMTP session with fuzz input split into chunks. The first
//! byte picks the configuration and the chunk sizes; the session answers
//! Authenticate alternately true/false, Mail by the same toggle, Message with Ok("id"), and
//! StartTls with tls_started().
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealpost_smtp::{Event, Session, SessionConfig};

fuzz_target!(|input: &[u8]| {
    let Some((&flags, rest)) = input.split_first() else {
        return;
    };
    let mut session = Session::new(SessionConfig {
        hostname: "fuzz.example".into(),
        max_message_size: 4096,
        max_recipients: 5,
        tls_active: flags & 1 != 0,
        starttls_offered: flags & 2 != 0,
        plaintext_allowed: flags & 4 != 0,
        relay_without_auth: flags & 8 != 0,
        check_sender: flags & 16 != 0,
    });
    let _ = session.greeting().to_bytes();
    // Chunk length cycles through 1..=16 octets, seeded by the flags.
    let mut chunk_len = usize::from(flags >> 4) + 1;
    let mut auth_ok = false;
    let mut data = rest;
    let mut closed = false;
    while !data.is_empty() && !closed {
        let n = chunk_len.min(data.len());
        session.feed(&data[..n]);
        data = &data[n..];
        chunk_len = chunk_len % 16 + 1;
        while let Some(event) = session.next_event() {
            match event {
                Event::Reply(reply) => {
                    assert!((200..600).contains(&reply.code));
                    assert!(reply.to_bytes().ends_with(b"\r\n"));
                }
                Event::StartTls => session.tls_started(),
                Event::Authenticate { .. } => {
                    session.auth_result(auth_ok);
                    auth_ok = !auth_ok;
                }
                Event::Message { data: message, .. } => {
                    assert!(message.len() <= 4096);
                    assert!(sealpost_smtp::check_message(&message).is_ok());
                    session.message_result(Ok("id".into()));
                }
                Event::Mail { .. } => session.mail_result(if auth_ok { Ok(()) } else { Err(sealpost_smtp::Reply::new(550, None, "no")) }),
                Event::Close => {
                    closed = true;
                    break;
                }
            }
        }
    }
});

//! Loopback ports.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that was free a moment ago. Another process may
/// take it before the caller binds it: starters retry on a new port.
pub fn free_port() -> u16 {
    // Binding port 0 makes the kernel pick an unused ephemeral port.
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// Waits until something accepts TCP connections on `addr`; false on timeout.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable_and_waited_for() {
        let port = free_port();
        assert_ne!(port, 0);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        assert!(!wait_for_port(addr, Duration::from_millis(100)), "nothing listens yet");
        let _l = TcpListener::bind(addr).unwrap();
        assert!(wait_for_port(addr, Duration::from_secs(2)));
    }
}

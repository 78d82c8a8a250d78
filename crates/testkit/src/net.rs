//! Loopback ports.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
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

/// A TCP listener that never answers, for tests that a client made (or
/// did not make) a connection: the kernel completes a client's handshake
/// into the backlog, and [`TcpProbe::connections`] counts what is there.
#[derive(Debug)]
pub struct TcpProbe {
    listener: TcpListener,
}

impl TcpProbe {
    /// Listens on `addr` (port 0: a free one).
    pub fn bind(addr: impl ToSocketAddrs) -> std::io::Result<TcpProbe> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(TcpProbe { listener })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        // A bound listener always has a local address; 0.0.0.0:0 never
        // matches what a test connected to.
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Connections made since the last call (each is closed at once).
    pub fn connections(&self) -> usize {
        std::iter::from_fn(|| self.listener.accept().ok()).count()
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

    #[test]
    fn probe_counts_connections() {
        let probe = TcpProbe::bind("127.0.0.1:0").unwrap();
        assert_eq!(probe.connections(), 0);
        let _a = TcpStream::connect(probe.addr()).unwrap();
        let _b = TcpStream::connect(probe.addr()).unwrap();
        assert_eq!(probe.connections(), 2);
        assert_eq!(probe.connections(), 0);
    }
}

//! Connection caps for the listeners (issue 13.8, R-IN-5): at most
//! `max_connections` at once per listener and `max_connections_per_client`
//! from one address, so a client that opens connections and sends nothing
//! cannot take the server's sockets and memory. A slot is held by a
//! [`ConnectionSlot`] and given back when it drops.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The listener is at `max_connections`.
    Total,
    /// This client is at `max_connections_per_client`.
    PerClient,
}

/// Counts a listener's open connections, in total and per client address.
pub struct ConnectionLimiter {
    total: usize,
    per_client: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

impl ConnectionLimiter {
    /// A limiter with the given caps (0: no cap).
    pub fn new(total: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Self { total, per_client, open: Mutex::new((0, HashMap::new())) })
    }

    /// Takes a slot for a connection from `client`, or says why not.
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Result<ConnectionSlot, Refused> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if self.total > 0 && open.0 >= self.total {
            return Err(Refused::Total);
        }
        let mine = open.1.get(&client).copied().unwrap_or(0);
        if self.per_client > 0 && mine >= self.per_client {
            return Err(Refused::PerClient);
        }
        open.0 += 1;
        open.1.insert(client, mine + 1);
        Ok(ConnectionSlot { limiter: self.clone(), client })
    }
}

/// One admitted connection; dropping it frees the slot.
pub struct ConnectionSlot {
    limiter: Arc<ConnectionLimiter>,
    client: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().unwrap_or_else(|p| p.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_client_and_in_total_and_slots_come_back() {
        let l = ConnectionLimiter::new(3, 2);
        let (a, b, c): (IpAddr, IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        let a1 = l.admit(a).unwrap();
        let _a2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).err(), Some(Refused::PerClient));
        let _b1 = l.admit(b).unwrap();
        assert_eq!(l.admit(c).err(), Some(Refused::Total));
        drop(a1);
        let _c1 = l.admit(c).unwrap();
        assert_eq!(l.admit(a).err(), Some(Refused::Total));
        assert!(l.open.lock().unwrap().1.values().all(|n| *n > 0), "no zero entries kept");
    }

    #[test]
    fn zero_means_no_cap() {
        let l = ConnectionLimiter::new(0, 0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let slots: Vec<_> = (0..100).map(|_| l.admit(ip).unwrap()).collect();
        drop(slots);
        assert_eq!(l.open.lock().unwrap().0, 0);
    }
}

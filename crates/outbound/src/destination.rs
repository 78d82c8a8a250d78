//! Where outbound connections may go (issue 13.10): server-side request
//! forgery protection for every request Sealpost makes to a host that
//! someone else names — webhook endpoints, MX hosts, and the MTA-STS policy
//! and WKD key hosts of a recipient's domain ([`crate::HttpsFetcher`]).
//!
//! [`classify`] names the non-public address classes: loopback, private
//! (RFC 1918), link-local, unique-local (fc00::/7), shared address space
//! (CGNAT, 100.64.0.0/10), multicast, broadcast, unspecified, other
//! reserved ranges (documentation, benchmarking, 240.0.0.0/4, …) and the
//! cloud metadata services (169.254.169.254, fd00:ec2::254, 168.63.129.16,
//! …). IPv6 addresses that embed an IPv4 address (IPv4-mapped,
//! IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by the
//! embedded address, so `::ffff:127.0.0.1` is loopback.
//!
//! [`AllowList`] is an installation's exception list (`[webhooks]
//! allow_hosts`, `[delivery] allow_internal_mx`): host names (exact), IP
//! addresses and CIDR networks. A listed host name may resolve to internal
//! addresses; a listed address or network may be reached whatever name
//! leads there. Three classes are never allowed by a name or a network:
//! unspecified, multicast and broadcast addresses are refused always, and a
//! metadata address only when it is listed by itself (`"169.254.169.254"`),
//! never through a name or a wider network such as `169.254.0.0/16`.
//!
//! The check must be made on the address a connection actually goes to:
//! resolve once, check every address, connect only to the checked ones, so
//! a name that resolves to loopback, or is re-pointed between a check and
//! the connection (DNS rebinding), gets nowhere. [`crate::HttpsFetcher`]
//! does this in its resolver; the server's webhook client and MX delivery
//! do it too.
//!
//! ```
//! use sealpost_outbound::destination::{AllowList, Class};
//!
//! let none = AllowList::default();
//! let ip = "10.1.2.3".parse().unwrap();
//! assert_eq!(none.check("mta-sts.example.org", ip).unwrap_err().class, Class::Private);
//! let listed = AllowList::parse(&["10.0.0.0/8".to_string()]).unwrap();
//! assert!(listed.check("mta-sts.example.org", ip).is_ok());
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// A class of addresses that outbound requests do not go to by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16.
    Private,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// fc00::/7 (and the deprecated site-local fec0::/10).
    UniqueLocal,
    /// 100.64.0.0/10, the carrier-grade NAT shared address space.
    SharedCgnat,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// A cloud instance metadata or platform service address.
    Metadata,
    /// Documentation, benchmarking, IETF protocol assignments, 240.0.0.0/4,
    /// Teredo, discard-only and other special-purpose ranges.
    Reserved,
}

impl Class {
    /// Words for messages ("a loopback address").
    pub fn describe(self) -> &'static str {
        match self {
            Class::Loopback => "a loopback address",
            Class::Private => "a private address",
            Class::LinkLocal => "a link-local address",
            Class::UniqueLocal => "a unique-local address",
            Class::SharedCgnat => "a shared (CGNAT) address",
            Class::Multicast => "a multicast address",
            Class::Broadcast => "the broadcast address",
            Class::Unspecified => "an unspecified address",
            Class::Metadata => "a cloud metadata address",
            Class::Reserved => "a reserved address",
        }
    }

    /// Whether no allow-list entry can open this class.
    fn never_allowed(self) -> bool {
        matches!(self, Class::Unspecified | Class::Multicast | Class::Broadcast)
    }
}

/// Cloud metadata and platform services on IPv4: AWS, GCP, Azure, OpenStack,
/// Oracle (169.254.169.254), AWS ECS and EKS credentials (169.254.170.2,
/// 169.254.170.23), AWS time and DNS (169.254.169.123, 169.254.169.253),
/// Azure's wire server (168.63.129.16, otherwise a public address), Alibaba
/// (100.100.100.200), Oracle Cloud classic (192.0.0.192).
const METADATA_V4: [Ipv4Addr; 8] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(169, 254, 170, 23),
    Ipv4Addr::new(169, 254, 169, 123),
    Ipv4Addr::new(169, 254, 169, 253),
    Ipv4Addr::new(168, 63, 129, 16),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(192, 0, 0, 192),
];

/// The class of `ip`, or None for a public (globally routable) address.
pub fn classify(ip: IpAddr) -> Option<Class> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Class> {
    let o = ip.octets();
    let in_net = |net: [u8; 4], len: u32| {
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
    };
    if METADATA_V4.contains(&ip) {
        return Some(Class::Metadata);
    }
    Some(if o[0] == 0 {
        Class::Unspecified
    } else if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_private() {
        Class::Private
    } else if ip.is_link_local() {
        Class::LinkLocal
    } else if in_net([100, 64, 0, 0], 10) {
        Class::SharedCgnat
    } else if ip.is_multicast() {
        Class::Multicast
    } else if ip.is_broadcast() {
        Class::Broadcast
    } else if in_net([192, 0, 0, 0], 24)       // IETF protocol assignments
        || in_net([192, 0, 2, 0], 24)          // TEST-NET-1
        || in_net([198, 51, 100, 0], 24)       // TEST-NET-2
        || in_net([203, 0, 113, 0], 24)        // TEST-NET-3
        || in_net([198, 18, 0, 0], 15)         // benchmarking
        || in_net([192, 88, 99, 0], 24)        // 6to4 relay anycast (deprecated)
        || in_net([240, 0, 0, 0], 4)
    {
        Class::Reserved
    } else {
        return None;
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Class> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some(Class::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Class::Loopback);
    }
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): the
    // socket reaches the IPv4 address.
    if let Some(v4) = ip.to_ipv4() {
        return classify_v4(v4);
    }
    // NAT64, well-known prefix 64:ff9b::/96: a translator reaches the IPv4 address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7])));
    }
    // 6to4 2002:a.b.c.d::/48.
    if s[0] == 0x2002 {
        return classify_v4(Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2])));
    }
    // AWS metadata, time sync, DNS and credentials on IPv6 (fd00:ec2::254,
    // fd00:ec2::123, fd00:ec2::253, fd00:ec2::23): the whole fd00:ec2::/64.
    if s[..4] == [0xfd00, 0x0ec2, 0, 0] {
        return Some(Class::Metadata);
    }
    Some(if s[0] & 0xff00 == 0xff00 {
        Class::Multicast
    } else if s[0] & 0xffc0 == 0xfe80 {
        Class::LinkLocal
    } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 {
        Class::UniqueLocal
    } else if s[..2] == [0x2001, 0x0db8]           // documentation
        || s[..2] == [0x2001, 0]                   // Teredo
        || s[..4] == [0x0100, 0, 0, 0]             // discard-only 100::/64
        || s[..3] == [0x64, 0xff9b, 1]             // local-use NAT64 64:ff9b:1::/48
        || s[0] == 0x3fff && s[1] & 0xf000 == 0    // documentation 3fff::/20
        || s[0] & 0xe000 != 0x2000
    // outside global unicast 2000::/3
    {
        Class::Reserved
    } else {
        return None;
    })
}

/// The IPv4 address an IPv6 address stands for when it is IPv4-mapped;
/// otherwise the address itself (so `::ffff:10.0.0.1` matches `10.0.0.0/8`).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why a destination was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The address that was refused.
    pub ip: IpAddr,
    /// Its class.
    pub class: Class,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}", self.ip, self.class.describe())?;
        if self.class.never_allowed() { f.write_str(", which is never allowed") } else { Ok(()) }
    }
}

impl std::error::Error for Refused {}

impl Refused {
    /// Whether an allow-list entry could open this address.
    pub fn can_be_allowed(&self) -> bool {
        !self.class.never_allowed()
    }
}

/// Internal hosts an installation allows anyway (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    names: Vec<String>,
    nets: Vec<IpNet>,
}

impl AllowList {
    /// Parses `allow_hosts` entries: a host name, an IP address or a CIDR
    /// network. An error names the bad entry.
    pub fn parse(entries: &[String]) -> Result<AllowList, String> {
        let mut list = AllowList::default();
        for e in entries {
            let e = e.trim();
            if let Ok(ip) = e.parse::<IpAddr>() {
                list.nets.push(IpNet::from(canonical(ip)));
            } else if let Ok(net) = e.parse::<IpNet>() {
                if net.prefix_len() == 0 {
                    return Err(format!("{e:?} would allow every address; list the internal hosts or networks"));
                }
                let net = match net {
                    IpNet::V6(n) => match n.addr().to_ipv4_mapped() {
                        Some(v4) if n.prefix_len() >= 96 => {
                            IpNet::new(IpAddr::V4(v4), n.prefix_len() - 96).map_err(|x| x.to_string())?
                        }
                        _ => net,
                    },
                    v4 => v4,
                };
                list.nets.push(net.trunc());
            } else if is_host_name(e) {
                list.names.push(normal_name(e));
            } else {
                return Err(format!("{e:?} is neither a host name, an IP address nor a CIDR network"));
            }
        }
        Ok(list)
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.nets.is_empty()
    }

    /// Whether a connection to `ip`, reached through the URL host `host` (a
    /// name or an address literal), is allowed.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        let Some(class) = classify(ip) else { return Ok(()) };
        let ip = canonical(ip);
        let refused = Err(Refused { ip, class });
        if class.never_allowed() {
            return refused;
        }
        if class == Class::Metadata {
            let exact = self.nets.iter().any(|n| n.prefix_len() == n.max_prefix_len() && n.addr() == ip);
            return if exact { Ok(()) } else { refused };
        }
        let named = self.names.contains(&normal_name(host));
        if named || self.nets.iter().any(|n| n.contains(&ip)) { Ok(()) } else { refused }
    }

    /// Checks a URL host that is an address literal (`127.0.0.1`, `[::1]`);
    /// a name passes (it is checked once resolved).
    pub fn check_literal(&self, host: &str) -> Result<(), Refused> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => self.check(host, ip),
            Err(_) => Ok(()),
        }
    }

    /// Checks a URL host before any lookup: an address literal by its
    /// address; `localhost` and names under `.localhost` (RFC 6761) as
    /// loopback. Other names are checked once resolved.
    pub fn check_host(&self, host: &str) -> Result<(), Refused> {
        self.check_literal(host)?;
        let name = normal_name(host);
        if name == "localhost" || name.ends_with(".localhost") {
            return self.check(host, IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        Ok(())
    }
}

fn normal_name(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn is_host_name(s: &str) -> bool {
    let s = s.trim_end_matches('.');
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<Class> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn ipv4_classes() {
        for (ip, want) in [
            ("127.0.0.1", Class::Loopback),
            ("127.255.0.9", Class::Loopback),
            ("10.0.0.1", Class::Private),
            ("172.16.5.4", Class::Private),
            ("172.31.255.255", Class::Private),
            ("192.168.1.1", Class::Private),
            ("169.254.1.1", Class::LinkLocal),
            ("100.64.0.1", Class::SharedCgnat),
            ("100.127.255.254", Class::SharedCgnat),
            ("224.0.0.1", Class::Multicast),
            ("239.255.255.250", Class::Multicast),
            ("255.255.255.255", Class::Broadcast),
            ("0.0.0.0", Class::Unspecified),
            ("0.1.2.3", Class::Unspecified),
            ("192.0.2.10", Class::Reserved),
            ("198.18.0.1", Class::Reserved),
            ("240.0.0.1", Class::Reserved),
        ] {
            assert_eq!(class(ip), Some(want), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "93.184.216.34", "169.253.0.1"] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_classes() {
        for (ip, want) in [
            ("::1", Class::Loopback),
            ("::", Class::Unspecified),
            ("fe80::1", Class::LinkLocal),
            ("febf::1", Class::LinkLocal),
            ("fc00::1", Class::UniqueLocal),
            ("fd12:3456::1", Class::UniqueLocal),
            ("fec0::1", Class::UniqueLocal),
            ("ff02::1", Class::Multicast),
            ("2001:db8::1", Class::Reserved),
            ("2001:0:4136:e378::1", Class::Reserved),
            ("100::1", Class::Reserved),
        ] {
            assert_eq!(class(ip), Some(want), "{ip}");
        }
        for ip in ["2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "64:ff9b::808:808", "2002:808:808::1"] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_embedding_ipv4_is_judged_by_the_ipv4_address() {
        for (ip, want) in [
            ("::ffff:127.0.0.1", Class::Loopback),
            ("::ffff:7f00:1", Class::Loopback),
            ("::ffff:10.1.2.3", Class::Private),
            ("::ffff:169.254.169.254", Class::Metadata),
            ("::ffff:0.0.0.0", Class::Unspecified),
            ("::127.0.0.1", Class::Loopback),
            ("64:ff9b::7f00:1", Class::Loopback),
            ("64:ff9b::a9fe:a9fe", Class::Metadata),
            ("2002:c0a8:0101::1", Class::Private),
            ("2002:7f00:1::", Class::Loopback),
        ] {
            assert_eq!(class(ip), Some(want), "{ip}");
        }
        assert_eq!(class("::ffff:8.8.8.8"), None);
    }

    #[test]
    fn metadata_addresses() {
        for ip in [
            "169.254.169.254",
            "169.254.170.2",
            "169.254.169.123",
            "168.63.129.16",
            "100.100.100.200",
            "fd00:ec2::254",
            "fd00:ec2::23",
            "fd00:ec2::123",
        ] {
            assert_eq!(class(ip), Some(Class::Metadata), "{ip}");
        }
    }

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_refuses_every_internal_address_and_allows_public_ones() {
        let none = AllowList::default();
        assert!(none.check("hooks.example.org", ip("93.184.216.34")).is_ok());
        assert!(none.check("hooks.example.org", ip("2606:4700::1")).is_ok());
        for bad in ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1", "fd00:ec2::254", "0.0.0.0"] {
            let e = none.check("hooks.example.org", ip(bad)).unwrap_err();
            assert!(e.to_string().starts_with(&canonical(ip(bad)).to_string()), "{e}");
        }
        for host in ["localhost", "LOCALHOST.", "api.localhost", "127.0.0.1", "[::1]", "[::ffff:10.0.0.1]"] {
            assert!(none.check_host(host).is_err(), "{host}");
        }
        assert!(none.check_host("hooks.example.org").is_ok());
    }

    #[test]
    fn allow_list_names_addresses_and_networks() {
        let l = list(&["hooks.internal.example", "127.0.0.1", "10.20.0.0/16", "fd12::/16", "::ffff:192.168.7.0/120"]);
        // A listed name may resolve to internal addresses...
        assert!(l.check("Hooks.Internal.Example.", ip("10.99.0.1")).is_ok());
        assert!(l.check("hooks.internal.example", ip("::1")).is_ok());
        // ...but never to metadata, unspecified or multicast addresses.
        assert!(l.check("hooks.internal.example", ip("169.254.169.254")).is_err());
        assert!(l.check("hooks.internal.example", ip("0.0.0.0")).is_err());
        assert!(l.check("hooks.internal.example", ip("224.0.0.1")).is_err());
        // Listed addresses and networks, whatever the name.
        assert!(l.check("other.example", ip("127.0.0.1")).is_ok());
        assert!(l.check("other.example", ip("::ffff:127.0.0.1")).is_ok());
        assert!(l.check("other.example", ip("127.0.0.2")).is_err());
        assert!(l.check("other.example", ip("10.20.3.4")).is_ok());
        assert!(l.check("other.example", ip("10.21.3.4")).is_err());
        assert!(l.check("other.example", ip("fd12:1::5")).is_ok());
        assert!(l.check("other.example", ip("192.168.7.9")).is_ok());
        assert!(l.check("other.example", ip("::1")).is_err());
        assert!(l.check_host("127.0.0.1").is_ok());
        assert!(l.check_host("localhost").is_ok());
        assert!(l.check_host("[::1]").is_err());
        // A metadata address only by itself, not through a wider network.
        assert!(list(&["169.254.0.0/16"]).check("x.example", ip("169.254.169.254")).is_err());
        assert!(list(&["169.254.0.0/16"]).check("x.example", ip("169.254.1.1")).is_ok());
        assert!(list(&["169.254.169.254"]).check("x.example", ip("169.254.169.254")).is_ok());
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in ["0.0.0.0/0", "::/0", "http://x", "a b", "10.0.0.0/33", ""] {
            assert!(AllowList::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}

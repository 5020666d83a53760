//! IP networks in CIDR form, as configuration names them (`127.0.0.0/8`, `::1/128`, or a
//! bare address): who may use a demo key, which proxies are trusted, which hosts may
//! deliver mail.

use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// An IP network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// True when `ip` is in this network. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
    /// as a dual-stack listener reports an IPv4 peer) counts as its IPv4 address for an
    /// IPv4 network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// True when this network is every address of its family (`0.0.0.0/0`, `::/0`).
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }

    /// True when every address of this network is a loopback address.
    pub fn is_loopback_only(&self) -> bool {
        match self.addr {
            IpAddr::V4(a) => a.is_loopback() && self.prefix >= 8,
            IpAddr::V6(a) => a.is_loopback() && self.prefix == 128,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has an invalid prefix length"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::Cidr;

    fn net(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn membership() {
        let n = net("127.0.0.0/8");
        assert!(n.contains("127.0.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!n.contains("10.0.0.1".parse().unwrap()));
        assert!(net("::1/128").contains("::1".parse().unwrap()));
        assert!(net("0.0.0.0/0").contains("192.0.2.1".parse().unwrap()));
        assert!(!net("::1").contains("::2".parse().unwrap()));
        // An IPv6 network of mapped addresses is matched as IPv6.
        assert!(net("::ffff:0:0/96").contains("::ffff:10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn refusals() {
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("::1/129".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
        assert!("10.0.0.0/x".parse::<Cidr>().is_err());
    }

    #[test]
    fn loopback_only() {
        assert!(net("127.0.0.0/8").is_loopback_only());
        assert!(net("::1").is_loopback_only());
        assert!(!net("127.0.0.0/7").is_loopback_only());
        assert!(!net("10.0.0.1").is_loopback_only());
        assert!(net("0.0.0.0/0").is_everything() && !net("10.0.0.0/8").is_everything());
    }
}

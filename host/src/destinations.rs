//! Where webhooks may send: public addresses only, unless an operator
//! opens internal ranges. Checked when a webhook is saved and again at
//! connect time, through the HTTP client's resolver, so a name that later
//! resolves inward (DNS rebinding) is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use ipnet::IpNet;

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("{0} is an internal address ({1}); webhooks may only reach public addresses")]
    Internal(IpAddr, &'static str),
    #[error("cannot resolve {0}: {1}")]
    Unresolvable(String, String),
}

/// Resolves host names; swapped for a fixed table in tests.
pub trait NameResolver: Send + Sync + 'static {
    fn lookup(&self, host: &str, port: u16)
    -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>>;
}

/// The operating system's resolver.
#[derive(Debug, Default)]
pub struct SystemResolver;

impl NameResolver for SystemResolver {
    fn lookup(
        &self,
        host: &str,
        port: u16,
    ) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        let target = format!("{host}:{port}");
        Box::pin(async move { Ok(tokio::net::lookup_host(target).await?.collect()) })
    }
}

/// The policy: refuse internal ranges except those explicitly allowed.
#[derive(Clone)]
pub struct DestinationPolicy {
    allow: Arc<Vec<IpNet>>,
    resolver: Arc<dyn NameResolver>,
}

impl std::fmt::Debug for DestinationPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DestinationPolicy")
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

impl DestinationPolicy {
    pub fn new(allow: Vec<IpNet>, resolver: Arc<dyn NameResolver>) -> Self {
        DestinationPolicy {
            allow: Arc::new(allow),
            resolver,
        }
    }

    /// Whether one address may be reached.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), DestinationError> {
        if self.allow.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match internal_reason(ip) {
            Some(reason) => {
                // An embedded IPv4 address may itself be allowed.
                if let Some(v4) = embedded_ipv4(ip)
                    && self.allow.iter().any(|net| net.contains(&IpAddr::V4(v4)))
                    && internal_reason(IpAddr::V4(v4)).is_some()
                {
                    return Ok(());
                }
                Err(DestinationError::Internal(ip, reason))
            }
            None => Ok(()),
        }
    }

    /// Resolves `host` and keeps the addresses that may be reached; an error
    /// when none may.
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, DestinationError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.check_ip(ip)?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let addrs = self
            .resolver
            .lookup(host, port)
            .await
            .map_err(|e| DestinationError::Unresolvable(host.to_string(), e.to_string()))?;
        if addrs.is_empty() {
            return Err(DestinationError::Unresolvable(
                host.to_string(),
                "no addresses".into(),
            ));
        }
        let mut ok = Vec::new();
        let mut first_err = None;
        for addr in addrs {
            match self.check_ip(addr.ip()) {
                Ok(()) => ok.push(addr),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match (ok.is_empty(), first_err) {
            (true, Some(e)) => Err(e),
            _ => Ok(ok),
        }
    }

    /// The check made when a webhook is saved: every address the URL's host
    /// resolves to must be allowed.
    pub async fn check_url(&self, url: &url::Url) -> Result<(), DestinationError> {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(443);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.check_ip(ip);
        }
        let addrs = self
            .resolver
            .lookup(host, port)
            .await
            .map_err(|e| DestinationError::Unresolvable(host.to_string(), e.to_string()))?;
        if addrs.is_empty() {
            return Err(DestinationError::Unresolvable(
                host.to_string(),
                "no addresses".into(),
            ));
        }
        addrs.iter().try_for_each(|a| self.check_ip(a.ip()))
    }
}

/// The reqwest resolver that applies the policy at connect time.
pub struct GuardedResolver(pub DestinationPolicy);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = policy
                .resolve(&host, 0)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The same resolver for hyper's connector (the delivery sender's): the
/// policy applied to every address a name resolves to, at connect time.
/// (hyper's connector never asks it about an IP literal; the sender checks
/// those itself.)
#[derive(Clone)]
pub struct GuardedDns(pub DestinationPolicy);

impl tower::Service<hyper_util::client::legacy::connect::dns::Name> for GuardedDns {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = DestinationError;
    type Future = BoxFuture<'static, Result<Self::Response, DestinationError>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), DestinationError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        let policy = self.0.clone();
        Box::pin(async move { Ok(policy.resolve(name.as_str(), 0).await?.into_iter()) })
    }
}

/// TLS for customers' addresses: verified against the platform's roots;
/// `None` when the platform verifier cannot be had.
pub fn guarded_tls() -> Option<rustls::ClientConfig> {
    crate::install_crypto_provider();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    use rustls_platform_verifier::BuilderVerifierExt;
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map(|b| b.with_no_client_auth())
        .ok()
}

/// A reqwest client builder for requests to addresses that customers
/// chose (an organisation's OpenID provider): the policy applied to every
/// address at connect time, no redirects followed, no proxy from the
/// environment, and TLS verified against the platform's roots (reqwest's
/// own roots when the platform has none).
pub fn guarded_client(policy: &DestinationPolicy) -> reqwest::ClientBuilder {
    let tls = guarded_tls();
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(std::sync::Arc::new(GuardedResolver(policy.clone())));
    match tls {
        Some(tls) => builder.tls_backend_preconfigured(tls),
        None => builder,
    }
}

fn v4_net(a: u8, b: u8, c: u8, d: u8, len: u8) -> ipnet::Ipv4Net {
    ipnet::Ipv4Net::new(Ipv4Addr::new(a, b, c, d), len).expect("valid prefix")
}

/// Why an address is internal, or `None` when it is public.
pub fn internal_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let table: [(ipnet::Ipv4Net, &'static str); 17] = [
        (v4_net(0, 0, 0, 0, 8), "unspecified / this network"),
        (v4_net(10, 0, 0, 0, 8), "private"),
        (v4_net(100, 64, 0, 0, 10), "carrier-grade NAT"),
        (v4_net(127, 0, 0, 0, 8), "loopback"),
        (v4_net(169, 254, 0, 0, 16), "link-local"),
        (v4_net(172, 16, 0, 0, 12), "private"),
        (v4_net(192, 0, 0, 0, 24), "IETF protocol assignments"),
        (v4_net(192, 0, 2, 0, 24), "documentation"),
        (v4_net(192, 88, 99, 0, 24), "6to4 relay"),
        (v4_net(192, 168, 0, 0, 16), "private"),
        (v4_net(198, 18, 0, 0, 15), "benchmarking"),
        (v4_net(198, 51, 100, 0, 24), "documentation"),
        (v4_net(203, 0, 113, 0, 24), "documentation"),
        (v4_net(224, 0, 0, 0, 4), "multicast"),
        (v4_net(240, 0, 0, 0, 4), "reserved"),
        (v4_net(255, 255, 255, 255, 32), "broadcast"),
        (v4_net(192, 31, 196, 0, 24), "AS112"),
    ];
    table
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, why)| *why)
}

fn v6_net(text: &str) -> ipnet::Ipv6Net {
    text.parse().expect("valid IPv6 prefix")
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // Forms that carry an IPv4 address are as internal as that address;
    // mapped and well-known NAT64 forms of a public address are public, the
    // rarer embeddings (IPv4-compatible, 6to4, local NAT64) are refused.
    if let Some(v4) = embedded_ipv4(IpAddr::V6(ip)) {
        let transparent = ip.to_ipv4_mapped().is_some() || is_nat64(ip);
        return match v4_reason(v4) {
            Some(why) => Some(why),
            None if transparent => None,
            None => Some("IPv6 transition form"),
        };
    }
    let table: [(&str, &'static str); 10] = [
        ("::/96", "IPv4-compatible (deprecated)"),
        ("100::/64", "discard"),
        ("2001::/32", "Teredo"),
        ("2001:2::/48", "benchmarking"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    ];
    table
        .iter()
        .find(|(net, _)| v6_net(net).contains(&ip))
        .map(|(_, why)| *why)
}

fn is_nat64(ip: Ipv6Addr) -> bool {
    v6_net("64:ff9b::/96").contains(&ip)
}

/// The IPv4 address inside IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms.
fn embedded_ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    let o = v6.octets();
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if is_nat64(v6)
        || v6_net("64:ff9b:1::/48").contains(&v6)
        || (o[..12].iter().all(|b| *b == 0) && !v6.is_loopback() && !v6.is_unspecified())
    {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if v6_net("2002::/16").contains(&v6) {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &str) -> DestinationPolicy {
        DestinationPolicy::new(
            crate::config::parse_allow_list(allow).unwrap(),
            Arc::new(SystemResolver),
        )
    }

    #[test]
    fn internal_ranges_are_refused() {
        let p = policy("");
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
            "64:ff9b:1::a00:1",
        ] {
            assert!(
                p.check_ip(bad.parse().unwrap()).is_err(),
                "{bad} should be refused"
            );
        }
        for good in [
            "93.184.215.14",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "64:ff9b::5db8:d70e",
            "::ffff:1.1.1.1",
        ] {
            assert!(
                p.check_ip(good.parse().unwrap()).is_ok(),
                "{good} should be allowed"
            );
        }
    }

    #[test]
    fn allow_list_opens_ranges_including_mapped_forms() {
        let p = policy("127.0.0.0/8,::1/128");
        assert!(p.check_ip("127.0.0.1".parse().unwrap()).is_ok());
        assert!(p.check_ip("::1".parse().unwrap()).is_ok());
        assert!(p.check_ip("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(p.check_ip("10.0.0.1".parse().unwrap()).is_err());
    }
}

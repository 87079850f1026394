//! Deliveries to customers' endpoints follow the Standard Webhooks specification
//! (standardwebhooks.com), so any of its libraries verifies them: headers `webhook-id`,
//! `webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `"{id}.{timestamp}.{body}"`, keyed with the endpoint's secret `whsec_<base64 bytes>`.
//! Written here, not taken from a crate: the scheme is one HMAC, and no kept Rust crate
//! implements it without I/O and async, which this crate (compiled to wasm32) cannot take.

use crate::time::Timestamp;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// An endpoint's signing secret: the key's bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointSecret(Vec<u8>);

/// Bytes of a secret tollgate makes (the spec asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;
const PREFIX: &str = "whsec_";

/// A secret that is not `whsec_` and 24 to 64 bytes of base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("an endpoint secret is whsec_ then 24 to 64 bytes in base64")]
pub struct InvalidSecret;

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointSecret(…)")
    }
}

impl EndpointSecret {
    /// The secret of these random bytes (the caller draws them).
    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> Self {
        Self(bytes.to_vec())
    }

    /// Reads `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Self, InvalidSecret> {
        let encoded = text.strip_prefix(PREFIX).ok_or(InvalidSecret)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| InvalidSecret)?;
        if (24..=64).contains(&bytes.len()) { Ok(Self(bytes)) } else { Err(InvalidSecret) }
    }

    /// `whsec_<base64>`, as shown once to the endpoint's owner and stored.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The `webhook-signature` header of `body` sent as message `id` at `timestamp`.
    pub fn sign(&self, id: &str, timestamp: Timestamp, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.0.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The three headers of a delivery of `body` as message `id` at `timestamp`.
    pub fn headers(&self, id: &str, timestamp: Timestamp, body: &[u8]) -> [(&'static str, String); 3] {
        [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.0.to_string()),
            ("webhook-signature", self.sign(id, timestamp, body)),
        ]
    }
}

/// A customer's endpoint URL that cannot take deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct InvalidEndpoint(pub &'static str);

/// An endpoint URL as its owner gave it, checked: `https`, or plain `http` to a loopback
/// host where `loopback_http` allows it (`tollgate dev`). Whether its host resolves to a
/// public address is checked where names are resolved, with [`is_public`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl {
    url: crate::workflow::WebhookUrl,
    host: String,
    port: u16,
}

impl EndpointUrl {
    /// Checks `url`.
    pub fn parse(url: &str, loopback_http: bool) -> Result<Self, InvalidEndpoint> {
        let parsed = crate::workflow::WebhookUrl::parse(url)
            .map_err(|_| InvalidEndpoint("must be an https:// URL of at most 2048 characters, without credentials"))?;
        let (https, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err(InvalidEndpoint("must be an https:// URL")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| InvalidEndpoint("has a port out of range"))?),
            None => (authority, if https { 443 } else { 80 }),
        };
        let host = host.to_ascii_lowercase();
        let loopback = host == "localhost" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
        let allowed = https || (loopback_http && loopback);
        if !allowed {
            return Err(InvalidEndpoint(if loopback_http {
                "must be an https:// URL (plain http:// only to 127.0.0.1 or localhost)"
            } else {
                "must be an https:// URL"
            }));
        }
        if !loopback_http && loopback {
            return Err(InvalidEndpoint("must not point at a loopback, private or link-local address"));
        }
        if let Ok(ip) = host.parse::<std::net::IpAddr>()
            && !loopback
            && !is_public(ip)
        {
            return Err(InvalidEndpoint("must not point at a loopback, private or link-local address"));
        }
        Ok(Self { url: parsed, host, port })
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The host to resolve (lower case) and the port.
    pub fn host_and_port(&self) -> (&str, u16) {
        (&self.host, self.port)
    }
}

/// Whether `ip` is on the public internet: not loopback, private (RFC 1918, unique local),
/// link-local (cloud metadata lives there), shared (CGNAT), unspecified, broadcast,
/// documentation or multicast. A delivery must never reach into the stack's own network.
pub fn is_public(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let shared = a == 100 && (64..128).contains(&b);
            let reserved = a == 0 || a >= 240 || (a == 192 && b == 0) || (a == 198 && (18..20).contains(&b));
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || shared
                || reserved)
        }
        std::net::IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(std::net::IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            let unique_local = first & 0xfe00 == 0xfc00;
            let link_local = first & 0xffc0 == 0xfe80;
            let documentation = first == 0x2001 && v6.segments()[1] == 0x0db8;
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || unique_local
                || link_local
                || documentation)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_https_and_public_and_plain_http_only_to_loopback_locally() {
        assert!(EndpointUrl::parse("https://hooks.example.com/tollgate", false).is_ok());
        assert_eq!(
            EndpointUrl::parse("https://hooks.example.com:8443/x", false).unwrap().host_and_port(),
            ("hooks.example.com", 8443)
        );
        assert_eq!(
            EndpointUrl::parse("https://Hooks.Example.com/x", false).unwrap().host_and_port(),
            ("hooks.example.com", 443)
        );
        assert!(EndpointUrl::parse("http://hooks.example.com/x", false).is_err(), "plain http in the cloud");
        assert!(EndpointUrl::parse("http://hooks.example.com/x", true).is_err(), "plain http beyond loopback locally");
        assert!(EndpointUrl::parse("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(EndpointUrl::parse("http://localhost:9000/hook", true).is_ok());
        for refused in [
            "http://127.0.0.1:9000/hook",
            "https://127.0.0.1/hook",
            "https://localhost/hook",
            "https://10.0.0.8/hook",
            "https://192.168.1.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "ftp://hooks.example.com",
            "https://user:pass@hooks.example.com/",
            "https://hooks.example.com:99999/",
        ] {
            assert!(EndpointUrl::parse(refused, false).is_err(), "{refused}");
        }
    }

    #[test]
    fn public_addresses_are_the_internets_only() {
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "100.100.1.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }

    /// The specification's own example (its README's test vector).
    #[test]
    fn signs_the_specifications_example() {
        let secret = EndpointSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature =
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", Timestamp(1_614_265_330), br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_secret_reads_back_as_written_and_bad_ones_are_refused() {
        let secret = EndpointSecret::from_bytes([7; SECRET_BYTES]);
        assert_eq!(EndpointSecret::parse(&secret.expose()), Ok(secret.clone()));
        assert!(format!("{secret:?}").contains('…'), "never printed");
        for bad in ["", "whsec_", "whsec_!!!", "sk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2hvcnQ="] {
            assert_eq!(EndpointSecret::parse(bad), Err(InvalidSecret), "{bad}");
        }
    }
}

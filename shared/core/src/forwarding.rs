//! What a gateway forwards upstream: the path it authorized, and only the headers the
//! caller may set. Both gateways (the Worker and the local stack's) call these, so a
//! request the one refuses is refused by the other.

use thiserror::Error;

/// The gateway serves `/v1` and everything below it.
pub fn is_gateway_path(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// Why a gateway path was refused: `400 invalid_path`.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum PathError {
    /// Not under `/v1`.
    #[error("the path is not under /v1")]
    NotGateway,
    /// A `.` or `..` segment, written plainly or percent-encoded (`%2e%2e`, `..;`).
    #[error("the path has a dot segment")]
    DotSegment,
    /// A slash or backslash hidden in a segment (`%2f`, `%5c`), or a plain backslash.
    #[error("the path has an encoded slash or a backslash")]
    HiddenSeparator,
    /// A `%` not followed by two hex digits, or an encoded control character.
    #[error("the path has a malformed or control-character escape")]
    BadEscape,
}

impl PathError {
    /// The stable code clients see.
    pub const CODE: &'static str = "invalid_path";
    /// The status clients see.
    pub const STATUS: u16 = 400;
}

/// Checks a `/v1` path, segment by segment, as an upstream would decode it, and returns it
/// unchanged to forward: whatever an upstream (or a URL library on the way) normalizes,
/// it cannot turn the path into one the gateway did not authorize (`/v1/../admin`).
pub fn forward_path(raw: &str) -> Result<&str, PathError> {
    if !is_gateway_path(raw) {
        return Err(PathError::NotGateway);
    }
    if raw.contains('\\') {
        return Err(PathError::HiddenSeparator);
    }
    for segment in raw.split('/') {
        let decoded = percent_decode(segment)?;
        if decoded.contains(&b'/') || decoded.contains(&b'\\') {
            return Err(PathError::HiddenSeparator);
        }
        if decoded.iter().any(|byte| byte.is_ascii_control()) {
            return Err(PathError::BadEscape);
        }
        // Servlet containers drop `;parameters` before resolving dots: `..;` is `..` there.
        let name = decoded.split(|&byte| byte == b';').next().unwrap_or_default();
        if name == b"." || name == b".." {
            return Err(PathError::DotSegment);
        }
    }
    Ok(raw)
}

fn percent_decode(segment: &str) -> Result<Vec<u8>, PathError> {
    let mut bytes = segment.bytes();
    let mut out = Vec::with_capacity(segment.len());
    while let Some(byte) = bytes.next() {
        if byte != b'%' {
            out.push(byte);
            continue;
        }
        let mut hex_digit = || bytes.next().and_then(|digit| char::from(digit).to_digit(16));
        let (Some(high), Some(low)) = (hex_digit(), hex_digit()) else { return Err(PathError::BadEscape) };
        // Both digits are below 16, so the byte cannot overflow.
        out.push(u8::try_from(high.saturating_mul(16).saturating_add(low)).map_err(|_| PathError::BadEscape)?);
    }
    Ok(out)
}

/// Headers a gateway sets itself: a caller's own are dropped, however they are spelled.
const OWN_HEADER_PREFIX: &str = "x-tollgate-";
/// Request headers never forwarded: the caller's credentials and the host.
const DROPPED: [&str; 4] = ["authorization", "proxy-authorization", "cookie", "host"];

/// Whether a caller's request header goes upstream. Names are read lowercased with `_`
/// as `-`, since CGI, PHP and nginx (`underscores_in_headers`) fold `X_Tollgate_Account`
/// into the `X-Tollgate-Account` the gateway sets.
pub fn forwards_header(name: &str) -> bool {
    let folded: String = name.chars().map(|c| if c == '_' { '-' } else { c.to_ascii_lowercase() }).collect();
    !folded.starts_with(OWN_HEADER_PREFIX) && !DROPPED.contains(&folded.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_paths_are_forwarded_as_they_are() {
        for path in ["/v1", "/v1/", "/v1/images/generate", "/v1/a%20b/c.json", "/v1/.well-known/x", "/v1/a..b"] {
            assert_eq!(forward_path(path), Ok(path));
        }
    }

    #[test]
    fn escapes_from_v1_are_refused() {
        for (path, error) in [
            ("/v1/../admin/x", PathError::DotSegment),
            ("/v1/%2e%2e/internal/x", PathError::DotSegment),
            ("/v1/%2E./internal/x", PathError::DotSegment),
            ("/v1/./x", PathError::DotSegment),
            ("/v1/..", PathError::DotSegment),
            ("/v1/..;/admin", PathError::DotSegment),
            ("/v1/%2e%2e%3b/admin", PathError::DotSegment),
            ("/v1/a%2f..%2fadmin", PathError::HiddenSeparator),
            ("/v1/a%2Fb", PathError::HiddenSeparator),
            ("/v1/a%5cb", PathError::HiddenSeparator),
            ("/v1/a\\..\\admin", PathError::HiddenSeparator),
            ("/v1\\..\\admin", PathError::NotGateway),
            ("/v1/a%00b", PathError::BadEscape),
            ("/v1/a%zz", PathError::BadEscape),
            ("/v1/a%2", PathError::BadEscape),
            ("/admin/x", PathError::NotGateway),
            ("/v10/x", PathError::NotGateway),
        ] {
            assert_eq!(forward_path(path), Err(error), "{path}");
        }
    }

    #[test]
    fn own_and_credential_headers_are_dropped_however_spelled() {
        for name in [
            "X_Tollgate_Account",
            "x-tollgate-account",
            "X-TOLLGATE-KEY",
            "x_tollgate_anything",
            "Authorization",
            "cookie",
            "host",
        ] {
            assert!(!forwards_header(name), "{name}");
        }
        for name in ["content-type", "x-request-id", "accept", "x-tollgateaccount"] {
            assert!(forwards_header(name), "{name}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8192))]

        #[test]
        fn a_forwarded_path_never_leaves_v1(path in "/v1(/[a-z.%0-9A-F;\\\\]{0,8}){0,5}") {
            if let Ok(forwarded) = forward_path(&path) {
                // As an upstream would see it: decoded, then dot segments resolved.
                let decoded = String::from_utf8_lossy(&percent_decode(forwarded).unwrap()).into_owned();
                let mut resolved: Vec<&str> = Vec::new();
                for segment in decoded.split('/').skip(1) {
                    match segment.split(';').next().unwrap() {
                        ".." => { resolved.pop(); }
                        "." => {}
                        _ => resolved.push(segment),
                    }
                }
                prop_assert_eq!(resolved.first().copied(), Some("v1"));
            }
        }

        #[test]
        fn any_path_is_checked_without_panicking(path in "\\PC{0,64}") {
            let _ = forward_path(&path);
        }
    }
}

//! The SDK clients' HTTPS connector.
//!
//! The SDK's default client reads the platform trust store while it is built: about 300 file
//! opens and certificate parses on a Debian host, most of a cold start's init. The Mozilla
//! roots compiled in (`webpki-root-certs`, as async-stripe uses) cost no I/O and trust the
//! same authorities on every host. TLS is rustls on ring, the provider the Stripe client
//! already links, so a function carries one crypto library.

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use base64::Engine;

/// One pooled HTTPS client for every SDK client of a process.
pub fn https_client() -> SharedHttpClient {
    let trust = TrustStore::empty().with_native_roots(false).with_pem_certificate(compiled_in_roots());
    let context = TlsContext::builder().with_trust_store(trust).build().expect("a trust store of parsed roots");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

/// The compiled-in roots as one PEM bundle, the only form the trust store takes.
fn compiled_in_roots() -> Vec<u8> {
    let mut pem = String::new();
    for root in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        pem.push_str(&base64::engine::general_purpose::STANDARD.encode(root.as_ref()));
        pem.push_str("\n-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::{CertificateDer, pem::PemObject};

    #[test]
    fn the_bundle_holds_every_compiled_in_root_unchanged() {
        let parsed: Vec<CertificateDer> =
            CertificateDer::pem_slice_iter(&super::compiled_in_roots()).collect::<Result<_, _>>().unwrap();
        assert_eq!(parsed.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(parsed.iter().zip(webpki_root_certs::TLS_SERVER_ROOT_CERTS).all(|(a, b)| a.as_ref() == b.as_ref()));
    }
}

//! A deliberately small DER walker for the few parts of a certificate fastlb reads itself:
//! bounded, never panics on malformed input (fuzzed through `fuzz_targets/cert_subject.rs`).
//!
//! webpki parses X.509 v3 only (`UnsupportedCertVersion` for v1), yet v1 certificates are
//! still made by old tooling and by several client libraries' test fixtures. To serve one,
//! or to talk to a server that shows one with `verify: false`, fastlb needs just its version,
//! subject and public key: read here.

pub(super) const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
/// `[0] EXPLICIT Version` in a TBSCertificate.
const VERSION: u8 = 0xa0;

/// One tag-length-value: the tag, the value's bytes, and what follows it.
pub(super) fn split_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags never occur in the parts read here
    }
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7f);
            if rest.len() < count {
                return None;
            }
            let (bytes, rest) = rest.split_at(count);
            let length = bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
            (length, rest)
        }
        _ => return None, // indefinite or absurd lengths: not DER
    };
    if rest.len() < length {
        return None;
    }
    let (value, rest) = rest.split_at(length);
    Some((tag, value, rest))
}

/// What fastlb reads of a certificate itself.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct CertificateParts<'a> {
    /// 1, 2 or 3 (X.509's `Version` plus one; absent means v1).
    pub version: u8,
    /// The contents of the subject Name's SEQUENCE (what `subject::common_name` takes).
    pub subject: &'a [u8],
    /// The whole SubjectPublicKeyInfo, tag and length included (what rustls' signing keys
    /// report as their `public_key()`).
    pub public_key_info: &'a [u8],
}

/// The version, subject and public key of a DER certificate, or `None` if it isn't one.
pub(super) fn certificate_parts(der: &[u8]) -> Option<CertificateParts<'_>> {
    let (SEQUENCE, certificate, _) = split_tlv(der)? else {
        return None;
    };
    let (SEQUENCE, mut tbs, _) = split_tlv(certificate)? else {
        return None;
    };
    let mut version = 1;
    if tbs.first() == Some(&VERSION) {
        let (_, explicit, rest) = split_tlv(tbs)?;
        let (INTEGER, [number], _) = split_tlv(explicit)? else {
            return None;
        };
        version = number.checked_add(1).filter(|v| *v <= 3)?;
        tbs = rest;
    }
    // serialNumber, signature, issuer, validity: skipped.
    let (INTEGER, _, rest) = split_tlv(tbs)? else {
        return None;
    };
    let mut rest = rest;
    for _ in 0..3 {
        let (SEQUENCE, _, next) = split_tlv(rest)? else {
            return None;
        };
        rest = next;
    }
    let (SEQUENCE, subject, after_subject) = split_tlv(rest)? else {
        return None;
    };
    let (SEQUENCE, _, after_key) = split_tlv(after_subject)? else {
        return None;
    };
    let public_key_info = &after_subject[..after_subject.len() - after_key.len()];
    Some(CertificateParts {
        version,
        subject,
        public_key_info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::certs::parse_chain;
    use crate::tls::subject::common_name;

    #[test]
    fn reads_a_v1_and_a_v3_certificate() {
        let v1 = parse_chain(include_bytes!("testdata/v1.pem")).unwrap();
        let parts = certificate_parts(&v1[0]).unwrap();
        assert_eq!(parts.version, 1);
        assert_eq!(common_name(parts.subject).as_deref(), Some("localhost"));
        assert_eq!(parts.public_key_info[0], SEQUENCE);
        let v3 = parse_chain(include_bytes!("testdata/a.pem")).unwrap();
        assert_eq!(certificate_parts(&v3[0]).unwrap().version, 3);
    }

    #[test]
    fn never_panics_on_truncations() {
        let v1 = parse_chain(include_bytes!("testdata/v1.pem")).unwrap();
        for end in 0..v1[0].len() {
            let _ = certificate_parts(&v1[0][..end]);
        }
        assert_eq!(certificate_parts(&[SEQUENCE, 0x80]), None);
    }
}

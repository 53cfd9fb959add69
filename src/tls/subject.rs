//! The subject's common name (CN) of a certificate, read from its DER-encoded subject.
//!
//! Only needed for certificates without DNS names in subjectAltName, where SNI selection
//! falls back to the CN as older servers do. A deliberately small DER walker: bounded,
//! never panics on malformed input (fuzzed: `fuzz/fuzz_targets/cert_subject.rs`).

use super::der::{split_tlv, SEQUENCE};

const SET: u8 = 0x31;
const OID: u8 = 0x06;
/// 2.5.4.3 (id-at-commonName), DER-encoded.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// The string types a CN may be encoded with (UTF8String, PrintableString, IA5String,
/// T61String); BMPString and UniversalString names are not host names anyway.
const STRING_TAGS: [u8; 4] = [0x0c, 0x13, 0x16, 0x14];

/// The last CN of a subject (the most specific one, as RFC 6125 says to use), given the
/// contents of the subject's outer SEQUENCE (what `webpki::Cert::subject()` returns).
pub fn common_name(subject: &[u8]) -> Option<String> {
    let mut found = None;
    let mut rdns = subject;
    while !rdns.is_empty() {
        let (tag, rdn, rest) = split_tlv(rdns)?;
        rdns = rest;
        if tag != SET {
            return None;
        }
        let mut attributes = rdn;
        while !attributes.is_empty() {
            let (tag, attribute, rest) = split_tlv(attributes)?;
            attributes = rest;
            if tag != SEQUENCE {
                return None;
            }
            let (tag, oid, value) = split_tlv(attribute)?;
            if tag != OID || oid != COMMON_NAME {
                continue;
            }
            let (tag, text, _) = split_tlv(value)?;
            if STRING_TAGS.contains(&tag) {
                if let Ok(text) = std::str::from_utf8(text) {
                    found = Some(text.to_ascii_lowercase());
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SET { SEQUENCE { OID, string } }` for one attribute.
    fn rdn(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let mut attribute = vec![OID, oid.len() as u8];
        attribute.extend_from_slice(oid);
        attribute.extend_from_slice(&[tag, value.len() as u8]);
        attribute.extend_from_slice(value);
        let mut sequence = vec![SEQUENCE, attribute.len() as u8];
        sequence.extend(attribute);
        let mut set = vec![SET, sequence.len() as u8];
        set.extend(sequence);
        set
    }

    #[test]
    fn finds_the_common_name_among_other_attributes() {
        let country = [0x55, 0x04, 0x06];
        let mut subject = rdn(&country, 0x13, b"FR");
        subject.extend(rdn(COMMON_NAME, 0x0c, b"WWW.Example.test"));
        assert_eq!(common_name(&subject).as_deref(), Some("www.example.test"));
        assert_eq!(common_name(&rdn(&country, 0x13, b"FR")), None);
    }

    #[test]
    fn long_form_lengths_and_malformed_input() {
        let name = vec![b'a'; 200];
        let mut attribute = vec![OID, 3, 0x55, 0x04, 0x03, 0x0c, 0x81, 200];
        attribute.extend_from_slice(&name);
        let mut sequence = vec![SEQUENCE, 0x81, attribute.len() as u8];
        sequence.extend(attribute);
        let mut set = vec![SET, 0x81, sequence.len() as u8];
        set.extend(sequence);
        assert_eq!(common_name(&set).map(|n| n.len()), Some(200));
        for bad in [
            &set[..set.len() - 1],
            &[SET, 0x80][..],
            &[SET, 0x85, 1, 1, 1, 1, 1][..],
        ] {
            assert_eq!(common_name(bad), None);
        }
    }
}

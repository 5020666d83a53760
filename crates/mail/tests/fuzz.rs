//! `parse` never panics, whatever the bytes: random input and random mutations of the
//! golden corpus. `parse` turns a caught panic into an "internal error", so these tests
//! fail on that message too.

use proptest::prelude::*;
use std::path::Path;
use ticketgate_mail::{MailConfig, MailError, parse};

fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(load_corpus)
}

fn load_corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect()
}

fn check(raw: &[u8]) -> Result<(), TestCaseError> {
    let config = MailConfig {
        keep_html: true,
        ..MailConfig::default()
    };
    match parse(raw, &config) {
        Err(MailError::Unparseable(m)) if m.contains("internal error") => {
            Err(TestCaseError::fail(format!("parse panicked on {raw:?}")))
        }
        Ok(mail) => {
            // Whatever came out is usable by the gateway.
            let _ = mail.to_entry();
            prop_assert!(!mail.digest.is_empty());
            prop_assert!(!mail.ticket.subject.is_empty());
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Flip(p, b)),
        (
            any::<usize>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 1..16),
                Just(b"\n--".to_vec()),
                Just(b"\nContent-Type: multipart/mixed; boundary=z\n\n--z\n".to_vec()),
                Just(b"=?utf-8?b?".to_vec()),
                Just(b"<".to_vec()),
                Just(b"&#x".to_vec()),
                Just(b"\r".to_vec()),
            ]
        )
            .prop_map(|(p, v)| Mutation::Insert(p, v)),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Mutation::Delete(p, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..256).prop_map(|(p, n)| Mutation::Duplicate(p, n)),
    ]
}

fn apply(mut raw: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = raw.len().max(1);
        match m {
            Mutation::Flip(p, b) => {
                if let Some(x) = raw.get_mut(p % len) {
                    *x ^= *b;
                }
            }
            Mutation::Insert(p, v) => {
                let at = (p % len).min(raw.len());
                raw.splice(at..at, v.iter().copied());
            }
            Mutation::Delete(p, n) => {
                let at = (p % len).min(raw.len());
                let end = (at + n).min(raw.len());
                raw.drain(at..end);
            }
            Mutation::Truncate(p) => raw.truncate(p % len),
            Mutation::Duplicate(p, n) => {
                let at = (p % len).min(raw.len());
                let end = (at + n).min(raw.len());
                let copy = raw[at..end].to_vec();
                raw.splice(end..end, copy);
            }
        }
    }
    raw
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&raw)?;
    }

    #[test]
    fn random_headers_never_panic(
        lines in proptest::collection::vec("[A-Za-z-]{1,12}: [ -~]{0,60}", 0..20),
        body in "[ -~\n]{0,300}",
    ) {
        let raw = format!("{}\n\n{}", lines.join("\n"), body);
        check(raw.as_bytes())?;
    }

    #[test]
    fn mutated_corpus_never_panics(
        pick in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..8),
    ) {
        let corpus = corpus();
        prop_assume!(!corpus.is_empty());
        let raw = apply(corpus[pick % corpus.len()].clone(), &mutations);
        check(&raw)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    /// The text helpers slice strings by byte offsets: any char boundary mistake panics.
    #[test]
    fn text_helpers_never_panic(
        s in "(<[a-z/!]{0,3}|>|&#?x?[0-9a-z]{0,4};?|[ \n>\"']|é|€|😀|[a-zA-Z ]{0,8}|\\[#[0-9]{0,3}\\]?|On |wrote:|-----|From: |Sent: )*",
        tag in "(\\[#|\\[Ticket#|#)\\{number\\}(\\]|)",
    ) {
        let text = ticketgate_mail::html_to_text(&s);
        prop_assert!(!text.contains('\r'));
        let trimmed = ticketgate_mail::trim_quoted(&s);
        prop_assert!(trimmed.len() <= s.len());
        let _ = ticketgate_mail::find_subject_number(&tag, &s);
        let config = MailConfig { subject_tag: tag.clone(), ..MailConfig::default() };
        let tagged = ticketgate_mail::tag_subject(&config, &s, "100234");
        prop_assert_eq!(
            ticketgate_mail::find_subject_number(&tag, &tagged).is_some(),
            true,
            "{} does not carry its tag", tagged
        );
    }
}

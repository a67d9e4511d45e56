//! Input generators for the generated-input tests of every parser of untrusted bytes
//! (docs/testing.md, "Generated-input tests"). Shared by `gatehouse-guard/tests/parsers.rs` and
//! `gatehouse-core/tests/parsers.rs` (the lowest crate holds it; core includes it by path).
//!
//! Why proptest and not a coverage-guided fuzzer in `cargo test`: libFuzzer (cargo-fuzz) needs
//! a nightly toolchain and this project builds with stable 1.95 only. `cargo-afl` does work on
//! stable here (docs/testing.md says how to run it on the same seed corpora), but a fuzzing
//! campaign is open-ended and needs its own instrumented build, so it cannot be part of every
//! `cargo test`. These property tests run everywhere in a few seconds; their generators mix
//! plain random bytes and text with *mutations of the checked-in seed corpora*
//! (`tests/corpus/<parser>/`, one input per file, the same layout AFL and libFuzzer use), so the
//! random inputs stay close to the interesting shapes (JWS, JWK, URLs, JSON requests).

#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

/// Every file of `<crate>/tests/corpus/<name>/`, sorted by name. A missing or empty folder is an
/// error: a parser's seed corpus must not vanish unnoticed.
pub fn corpus(manifest_dir: &str, name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(manifest_dir).join("tests/corpus").join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seed corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "seed corpus {} is empty", dir.display());
    files.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// The corpus as text (lossy: a seed may hold invalid UTF-8 on purpose, for byte parsers).
pub fn corpus_text(manifest_dir: &str, name: &str) -> Vec<String> {
    corpus(manifest_dir, name).into_iter().map(|b| String::from_utf8_lossy(&b).into_owned()).collect()
}

/// Fragments that tend to matter to parsers of URLs, JSON, JOSE, email and form data: escapes
/// (valid and broken), separators, NUL and other controls, invisible and bidi characters,
/// look-alike letters, number edge cases.
const DICTIONARY: &[&str] = &[
    "\0",
    "%00",
    "%",
    "%G0",
    "%2",
    "%2e%2e",
    "%2F",
    "%40",
    "+",
    "&",
    "=",
    ";",
    ":",
    "/",
    "//",
    "\\",
    "..",
    ".",
    "@",
    "#",
    "?",
    "*",
    " ",
    "\t",
    "\r\n",
    "\"",
    "\\u0000",
    "\\u",
    "\\ud800",
    "\\\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    "null",
    "true",
    "-0",
    "1e309",
    "9223372036854775808",
    "-9223372036854775809",
    "0.5",
    "\u{200b}",
    "\u{00ad}",
    "\u{202e}",
    "\u{feff}",
    "\u{0430}",
    "\u{03bf}",
    "\u{ff41}",
    "\u{130}",
    "\u{1e9e}",
    "\u{fb01}",
    "\u{2126}",
    "\u{fffd}",
    "xn--",
    "localhost",
    "127.0.0.1",
    "[::1]",
    ":0",
    ":65535",
    ":65536",
    "http://",
    "https://",
    "\"alg\"",
    "\"none\"",
    "\"kid\"",
    "\"keys\"",
    "\"d\"",
    "\"__entity\"",
    "=",
    "==",
    "-",
    "_",
    "~",
    "eyJ",
    "AAAA",
];

/// One random change to an input.
#[derive(Debug, Clone)]
pub enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Word(usize, usize),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), 0..DICTIONARY.len()).prop_map(|(i, w)| Edit::Word(i, w)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Edit::Duplicate(i, n)),
    ]
}

/// `data` with `edits` applied in order (positions wrap around the current length).
pub fn apply(mut data: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match e {
            Edit::Flip(i, b) if !data.is_empty() => {
                let n = data.len();
                data[i % n] ^= b | 1;
            }
            Edit::Flip(..) => {}
            Edit::Insert(i, bytes) => {
                let p = at(*i, data.len());
                data.splice(p..p, bytes.iter().copied());
            }
            Edit::Delete(i, n) => {
                let p = at(*i, data.len());
                let end = (p + n).min(data.len());
                data.drain(p..end);
            }
            Edit::Word(i, w) => {
                let p = at(*i, data.len());
                data.splice(p..p, DICTIONARY[*w].bytes());
            }
            Edit::Duplicate(i, n) => {
                let p = at(*i, data.len());
                let end = (p + n).min(data.len());
                let copy = data[p..end].to_vec();
                data.splice(p..p, copy);
            }
        }
    }
    data
}

/// One to five random edits.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(edit(), 1..6)
}

/// A seed from `seeds`, unchanged or with a few random edits.
pub fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let seeds = Arc::new(seeds);
    (0..seeds.len(), proptest::collection::vec(edit(), 0..6))
        .prop_map(move |(i, edits)| apply(seeds[i].clone(), &edits))
}

/// Untrusted bytes: mutated seeds (most often), arbitrary bytes, arbitrary text, and long runs
/// (up to 70 000 bytes, beyond every length limit in the code under test).
pub fn bytes(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => mutated(seeds),
        2 => proptest::collection::vec(any::<u8>(), 0..300),
        2 => any::<String>().prop_map(String::into_bytes),
        1 => (0..DICTIONARY.len(), 1usize..70_000).prop_map(|(w, n)| DICTIONARY[w].repeat(n / DICTIONARY[w].len().max(1) + 1).into_bytes()),
    ]
}

/// Untrusted text: [`bytes`] made valid UTF-8 (invalid sequences become U+FFFD).
pub fn text(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = String> {
    bytes(seeds).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

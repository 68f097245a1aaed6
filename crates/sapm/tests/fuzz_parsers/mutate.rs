//! Mutations and case construction shared by every target.

use super::*;

// ---------------------------------------------------------------------------
// Generic mutations.

pub(crate) fn pick<'a, T>(rng: &mut Rng, xs: &'a [T]) -> &'a T {
    &xs[rng.random_range(0..xs.len())]
}

/// Numbers that break naive parsers.
pub(crate) const NUMBERS: &[&str] = &[
    "NaN",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "-1e309",
    "1e-400",
    "0",
    "-0",
    "-1",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775809",
    "4294967296",
    "1.7976931348623157e308",
    "5e-324",
    "0x10",
    "1_000",
    "+3",
    ".5",
    "5.",
    "--1",
    "1e",
    "1.2.3",
];

pub(crate) fn number_token(rng: &mut Rng) -> String {
    match rng.random_range(0..5) {
        0 => pick(rng, NUMBERS).to_string(),
        1 => rng.random_range(-100..100i32).to_string(),
        2 => format!("{:e}", rng.random::<f64>() * 1e6),
        _ => format!("{}", rng.random::<f64>() * 10.0 - 5.0),
    }
}

/// Byte ranges of number-like tokens.
pub(crate) fn number_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b"+-._".contains(&b[i])) {
                i += 1;
            }
            spans.push((s, i));
        } else {
            i += 1;
        }
    }
    spans
}

pub(crate) fn line_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut s = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' {
            spans.push((s, i + 1));
            s = i + 1;
        }
    }
    if s < b.len() {
        spans.push((s, b.len()));
    }
    spans
}

/// Sizes spread over orders of magnitude, up to `2^max_log2`.
pub(crate) fn log_size(rng: &mut Rng, max_log2: u32) -> usize {
    let k = rng.random_range(0..=max_log2);
    rng.random_range((1usize << k) / 2..=(1usize << k))
}

pub(crate) fn mutate(rng: &mut Rng, b: &mut Vec<u8>, t: &Target, seeds: &[Vec<u8>]) {
    let pos = |rng: &mut Rng, b: &Vec<u8>| rng.random_range(0..=b.len());
    match rng.random_range(0..18) {
        0 => {
            if !b.is_empty() {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
        }
        1 => {
            if !b.is_empty() {
                let i = rng.random_range(0..b.len());
                b[i] = rng.random();
            }
        }
        2 => {
            let n = pos(rng, b);
            b.truncate(n);
        }
        3 => {
            let i = pos(rng, b);
            let n = rng.random_range(1..16);
            let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            b.splice(i..i, junk);
        }
        4 | 5 => {
            let i = pos(rng, b);
            let tokens: Vec<&str> = t.dictionary.concat();
            let tok = if tokens.is_empty() || rng.random_bool(0.3) {
                number_token(rng)
            } else {
                pick(rng, &tokens).to_string()
            };
            b.splice(i..i, tok.into_bytes());
        }
        6 | 7 => {
            // Replace a number with NaN/Inf/huge/odd spellings.
            let spans = number_spans(b);
            if !spans.is_empty() {
                let (s, e) = *pick(rng, &spans);
                let tok = if rng.random_bool(0.2) {
                    format!("1{}", "0".repeat(log_size(rng, 12)))
                } else {
                    number_token(rng)
                };
                b.splice(s..e, tok.into_bytes());
            }
        }
        8 => {
            let lines = line_spans(b);
            if !lines.is_empty() {
                let (s, e) = *pick(rng, &lines);
                let copy = b[s..e].to_vec();
                let i = pick(rng, &lines).0;
                b.splice(i..i, copy);
            }
        }
        9 => {
            let lines = line_spans(b);
            if !lines.is_empty() {
                let (s, e) = *pick(rng, &lines);
                b.drain(s..e);
            }
        }
        10 => {
            if !b.is_empty() {
                let s = rng.random_range(0..b.len());
                let e = rng.random_range(s..=b.len().min(s + 64));
                let copy = b[s..e].to_vec();
                let i = pos(rng, b);
                b.splice(i..i, copy);
            }
        }
        11 => {
            if !b.is_empty() {
                let s = rng.random_range(0..b.len());
                let e = rng.random_range(s..=b.len().min(s + 64));
                b.drain(s..e);
            }
        }
        12 => {
            // Deep nesting in every bracket style the formats know.
            let k = log_size(rng, 15);
            let (open, close) = *pick(
                rng,
                &[
                    ("[", "]"),
                    ("{", "}"),
                    ("{a=", "}"),
                    ("{\"a\":", "}"),
                    ("a.", ""),
                    ("(", ")"),
                    ("\"", "\""),
                ],
            );
            let mut s = open.repeat(k);
            if rng.random_bool(0.7) {
                s.push('1');
                s.push_str(&close.repeat(k));
            }
            let i = pos(rng, b);
            b.splice(i..i, s.into_bytes());
        }
        13 => {
            // A very long line of one token, or of distinct tokens (wide headers).
            let n = log_size(rng, 16);
            let s = if rng.random_bool(0.5) {
                let tok = pick(rng, &["1,", "a", " ", "1.5e3,", "#", ",", "x = 1\n", "0"]);
                tok.repeat(n)
            } else {
                (0..n).map(|i| format!("c{i},")).collect()
            };
            let i = pos(rng, b);
            b.splice(i..i, s.into_bytes());
        }
        14 => {
            // Invalid UTF-8: stray continuation, truncated sequence, surrogate, overlong.
            let bad = *pick::<&[u8]>(
                rng,
                &[
                    &[0xff][..],
                    &[0x80],
                    &[0xc3],
                    &[0xed, 0xa0, 0x80],
                    &[0xc0, 0xaf],
                    &[0xf4, 0x90, 0x80, 0x80],
                    &[0xef, 0xbb, 0xbf],
                    &[0],
                ],
            );
            let i = pos(rng, b);
            b.splice(i..i, bad.iter().copied());
        }
        15 => {
            // Splice with another seed.
            let other = pick(rng, seeds);
            let i = pos(rng, b);
            let j = rng.random_range(0..=other.len());
            b.truncate(i);
            b.extend_from_slice(&other[j..]);
        }
        16 => {
            let lines = line_spans(b);
            if lines.len() >= 2 {
                let (s1, e1) = *pick(rng, &lines);
                let (s2, e2) = *pick(rng, &lines);
                let (a, c) = if s1 <= s2 {
                    ((s1, e1), (s2, e2))
                } else {
                    ((s2, e2), (s1, e1))
                };
                if a.1 <= c.0 {
                    let first = b[a.0..a.1].to_vec();
                    let second = b[c.0..c.1].to_vec();
                    b.splice(c.0..c.1, first);
                    b.splice(a.0..a.1, second);
                }
            }
        }
        _ => {
            // Structure-aware: replace the input with a generated one at random.
            *b = (t.generate)(rng);
        }
    }
}

pub(crate) fn make_case(rng: &mut Rng, t: &Target, seeds: &[Vec<u8>]) -> Vec<u8> {
    match rng.random_range(0..100) {
        0..5 => {
            let n = rng.random_range(0..256);
            (0..n).map(|_| rng.random()).collect()
        }
        5..30 => (t.generate)(rng),
        r => {
            let mut b = if r < 80 {
                pick(rng, seeds).clone()
            } else {
                (t.generate)(rng)
            };
            for _ in 0..rng.random_range(1..=4) {
                mutate(rng, &mut b, t, seeds);
            }
            b
        }
    }
}

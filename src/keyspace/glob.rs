//! Redis's glob-style pattern matching (`stringmatchlen`): `*`, `?`,
//! `[abc]`, `[^a-z]`, `\x` escapes; over bytes.

/// Whether `s` matches `pattern` (case-sensitive, as KEYS / SCAN MATCH).
pub(crate) fn matches(pattern: &[u8], s: &[u8]) -> bool {
    matches_case(pattern, s, false)
}

/// Whether `s` matches `pattern`; `nocase` folds ASCII case (as CONFIG GET and
/// COMMAND LIST FILTERBY PATTERN do). Pub/sub patterns use `nocase = false`.
pub(crate) fn matches_case(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let mut budget = 10_000usize;
    match_from(pattern, s, nocase, &mut budget)
}

fn match_from(mut p: &[u8], mut s: &[u8], nocase: bool, budget: &mut usize) -> bool {
    let eq = |a: u8, b: u8| a == b || (nocase && a.eq_ignore_ascii_case(&b));
    // Redis bounds the recursion of `*` (nesting limit); we bound the work.
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    while let Some(&c) = p.first() {
        match c {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                for i in 0..=s.len() {
                    if match_from(&p[1..], &s[i..], nocase, budget) {
                        return true;
                    }
                    if *budget == 0 {
                        return false;
                    }
                }
                return false;
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
            }
            b'[' => {
                let Some(&sc) = s.first() else {
                    return false;
                };
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut hit = false;
                loop {
                    match p {
                        [b'\\', x, ..] => {
                            if eq(*x, sc) {
                                hit = true;
                            }
                            p = &p[2..];
                        }
                        [b']', ..] => break,
                        [] => {
                            // Unterminated class: Redis treats the end as `]`
                            // (and steps back one so the loop ends).
                            break;
                        }
                        [a, b'-', b, ..] => {
                            let (lo, hi) = if a <= b { (*a, *b) } else { (*b, *a) };
                            let in_range = |c: u8| lo <= c && c <= hi;
                            if in_range(sc)
                                || (nocase
                                    && (in_range(sc.to_ascii_lowercase())
                                        || in_range(sc.to_ascii_uppercase())))
                            {
                                hit = true;
                            }
                            p = &p[3..];
                        }
                        [x, ..] => {
                            if eq(*x, sc) {
                                hit = true;
                            }
                            p = &p[1..];
                        }
                    }
                }
                if not {
                    hit = !hit;
                }
                if !hit {
                    return false;
                }
                s = &s[1..];
                if p.is_empty() {
                    return s.is_empty();
                }
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if !s.first().is_some_and(|&c| eq(p[0], c)) {
                    return false;
                }
                s = &s[1..];
            }
            _ => {
                if !s.first().is_some_and(|&x| eq(c, x)) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
    }
    s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches(b"*", b""));
        assert!(matches(b"h?llo", b"hello"));
        assert!(!matches(b"h?llo", b"hllo"));
        assert!(matches(b"h*llo", b"heeeello"));
        assert!(matches(b"h[ae]llo", b"hallo"));
        assert!(!matches(b"h[ae]llo", b"hillo"));
        assert!(matches(b"h[^e]llo", b"hallo"));
        assert!(!matches(b"h[^e]llo", b"hello"));
        assert!(matches(b"h[a-b]llo", b"hbllo"));
        assert!(matches(b"h\\*llo", b"h*llo"));
        assert!(!matches(b"h\\*llo", b"hallo"));
        assert!(matches(b"a*b*c", b"axxbyyc"));
        assert!(!matches(b"a*b*c", b"axxbyy"));
        assert!(matches(b"\xff*", b"\xff\x00"));
    }
}

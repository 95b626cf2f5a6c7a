//! Path patterns of monitor rules: absolute paths with `*`, `?` and `**`.
//!
//! - `*` matches any run of characters inside one path component, `?` one character;
//! - a `**` component matches zero or more whole components;
//! - a pattern without any glob character matches the path itself and everything below it
//!   (`/root` covers `/root/.ssh/id_rsa`), as a Landlock path hierarchy does.

/// Whether `pattern` contains glob characters.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// Whether the absolute `path` matches `pattern`.
pub fn matches(pattern: &str, path: &str) -> bool {
    if !is_glob(pattern) {
        let base = pattern.trim_end_matches('/');
        if base.is_empty() {
            return path.starts_with('/');
        }
        return path == base
            || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'));
    }
    let pat: Vec<&str> = components(pattern).collect();
    let segs: Vec<&str> = components(path).collect();
    match_components(&pat, &segs)
}

fn components(s: &str) -> impl Iterator<Item = &str> {
    s.split('/').filter(|c| !c.is_empty())
}

fn match_components(pat: &[&str], segs: &[&str]) -> bool {
    match pat.split_first() {
        None => segs.is_empty(),
        Some((&"**", rest)) => (0..=segs.len()).any(|skip| match_components(rest, &segs[skip..])),
        Some((p, rest)) => match segs.split_first() {
            Some((s, srest)) => {
                match_component(p.as_bytes(), s.as_bytes()) && match_components(rest, srest)
            }
            None => false,
        },
    }
}

fn match_component(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|skip| match_component(rest, &s[skip..])),
        Some((b'?', rest)) => !s.is_empty() && match_component(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && match_component(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_patterns_cover_the_hierarchy_below() {
        assert!(matches("/etc/shadow", "/etc/shadow"));
        assert!(!matches("/etc/shadow", "/etc/shadow2"));
        assert!(matches("/root", "/root/.ssh/id_rsa"));
        assert!(matches("/root/", "/root"));
        assert!(!matches("/root", "/rootfs/x"));
        assert!(matches("/", "/anything"));
    }

    #[test]
    fn stars_stay_inside_one_component() {
        assert!(matches("/etc/*.key", "/etc/tls.key"));
        assert!(!matches("/etc/*.key", "/etc/sub/tls.key"));
        assert!(matches("/home/*/.ssh/id_?sa", "/home/ann/.ssh/id_rsa"));
        assert!(!matches("/home/*/.ssh/id_?sa", "/home/ann/.ssh/id_ed25519"));
    }

    #[test]
    fn double_star_spans_components() {
        assert!(matches("/data/**/*.csv", "/data/a.csv"));
        assert!(matches("/data/**/*.csv", "/data/x/y/a.csv"));
        assert!(!matches("/data/**/*.csv", "/other/a.csv"));
        assert!(matches("/secrets/**", "/secrets/a/b"));
        assert!(matches("/**", "/x"));
    }
}

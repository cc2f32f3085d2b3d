//! Safe file names for URLs: `http://host:8080/a/b?x=1` is saved as
//! `host_8080/a/b?x=1` under the output directory, and nothing a URL says can put
//! a file anywhere else.
//!
//! Each path segment is percent-decoded (so `%2e%2e` is seen as `..`), then made
//! safe: `.`, `..` and empty segments are dropped, `/`, `\`, NUL and control
//! characters become `_`, and a segment longer than [`MAX_SEGMENT`] bytes is cut
//! and given a hash of the whole, so long names stay distinct. A path ending in
//! `/` (or empty) names `index.html`. The result holds only normal components, so
//! joining it to the directory never climbs out of it.

use std::borrow::Cow;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;

use reqwest::Url;

/// Longest segment kept whole. File systems allow 255 bytes; the rest is room for
/// the temporary suffix (`.netkit-part`).
pub const MAX_SEGMENT: usize = 200;

/// Segments beyond this depth are dropped into the last one, so a hostile URL
/// cannot make a path longer than the system's PATH_MAX (4096).
const MAX_DEPTH: usize = 16;

/// The relative path under the output directory for `url`.
pub fn relative_path(url: &Url) -> PathBuf {
    // Segments borrow from the URL unless decoding or cleaning changed them:
    // this runs for every URL, and allocations were most of its cost.
    let host: Cow<str> = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}_{port}").into(),
        (Some(host), None) => host.into(),
        (None, _) => "no-host".into(),
    };
    let host = safe_segment(host).unwrap_or(Cow::Borrowed("no-host"));
    let raw_path = url.path();
    let mut segments: Vec<Cow<str>> = raw_path
        .split('/')
        .filter_map(|segment| safe_segment(percent_decode(segment)))
        .collect();
    if raw_path.ends_with('/') || segments.is_empty() {
        segments.push(Cow::Borrowed("index.html"));
    }
    if segments.len() > MAX_DEPTH {
        let tail = segments.split_off(MAX_DEPTH - 1).join("_");
        segments.push(shorten(tail.into()));
    }
    if let Some(query) = url.query() {
        let last = segments.pop().unwrap_or_default();
        let with_query = format!("{last}?{}", clean(&percent_decode(query)));
        segments.push(shorten(with_query.into()));
    }
    let len = host.len() + segments.iter().map(|s| s.len() + 1).sum::<usize>();
    let mut path = PathBuf::with_capacity(len + 1);
    path.push(&*host);
    for segment in &segments {
        path.push(&**segment);
    }
    path
}

/// A segment made safe, or `None` for one to drop (`.`, `..`, empty).
fn safe_segment(raw: Cow<'_, str>) -> Option<Cow<'_, str>> {
    let cleaned = match clean(&raw) {
        Cow::Borrowed(_) => raw,
        Cow::Owned(cleaned) => Cow::Owned(cleaned),
    };
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return None;
    }
    Some(shorten(cleaned))
}

/// Replaces what a file name must not hold: separators, NUL, control characters.
fn clean(text: &str) -> Cow<'_, str> {
    let bad = |c: char| c == '/' || c == '\\' || c.is_control();
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    text.chars().map(|c| if bad(c) { '_' } else { c }).collect()
}

/// Cuts a name longer than [`MAX_SEGMENT`] bytes (on a character boundary) and
/// appends a hash of the whole name.
fn shorten(name: Cow<'_, str>) -> Cow<'_, str> {
    if name.len() <= MAX_SEGMENT {
        return name;
    }
    let mut hasher = DefaultHasher::new();
    name.hash(&mut hasher);
    let mut cut = MAX_SEGMENT - 17;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!("{}~{:016x}", &name[..cut], hasher.finish()))
}

/// Decodes `%XX` escapes; invalid escapes stay as they are, invalid UTF-8 is
/// replaced.
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(err) => Cow::Owned(String::from_utf8_lossy(err.as_bytes()).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Component, Path};

    use super::*;

    fn name(url: &str) -> PathBuf {
        relative_path(&Url::parse(url).unwrap())
    }

    fn only_normal(path: &Path) -> bool {
        path.components().all(|c| matches!(c, Component::Normal(_)))
    }

    #[test]
    fn names_follow_host_and_path() {
        assert_eq!(
            name("http://example.com/a/b.txt"),
            Path::new("example.com/a/b.txt")
        );
        assert_eq!(
            name("http://example.com"),
            Path::new("example.com/index.html")
        );
        assert_eq!(
            name("http://example.com/dir/"),
            Path::new("example.com/dir/index.html")
        );
        assert_eq!(
            name("http://127.0.0.1:8080/x"),
            Path::new("127.0.0.1_8080/x")
        );
        assert_eq!(name("http://h/p?a=1&b=2"), Path::new("h/p?a=1&b=2"));
        assert_eq!(
            name("http://h/p?a=/etc/passwd"),
            Path::new("h/p?a=_etc_passwd")
        );
        assert_eq!(name("http://h/?q"), Path::new("h/index.html?q"));
    }

    #[test]
    fn traversal_stays_inside() {
        for url in [
            "http://h/../../etc/passwd",
            "http://h/%2e%2e/%2e%2e/etc/passwd",
            "http://h/%2E%2E%2f%2E%2E%2fetc%2fpasswd",
            "http://h/a/..%2f..%2f..%2fetc",
            "http://h//etc/passwd",
            "http://h/%00nul",
            "http://h/.",
        ] {
            let path = name(url);
            assert!(only_normal(&path), "{url} -> {path:?}");
            assert!(path.starts_with("h"), "{url} -> {path:?}");
            assert!(!path.to_string_lossy().contains('\0'), "{url} -> {path:?}");
        }
        assert_eq!(
            name("http://h/%2e%2e/%2e%2e/etc/passwd"),
            Path::new("h/etc/passwd")
        );
        assert_eq!(name("http://h/a%2fb"), Path::new("h/a_b"));
    }

    #[test]
    fn long_names_are_cut_and_stay_distinct() {
        let a = name(&format!("http://h/{}a", "x".repeat(1000)));
        let b = name(&format!("http://h/{}b", "x".repeat(1000)));
        assert_ne!(a, b);
        for path in [&a, &b] {
            for part in path.components() {
                assert!(part.as_os_str().len() <= MAX_SEGMENT);
            }
        }
        let deep = name(&format!("http://h/{}", "d/".repeat(5000)));
        assert!(deep.components().count() <= MAX_DEPTH + 1);
        assert!(deep.as_os_str().len() < 4096);
    }

    proptest::proptest! {
        #[test]
        fn any_path_stays_inside(path in "[a-z./%2eEfF0\\\\]{0,40}", query in proptest::option::of("[a-z./%]{0,10}")) {
            let mut url = format!("http://h/{path}");
            if let Some(q) = query {
                url.push('?');
                url.push_str(&q);
            }
            if let Ok(url) = Url::parse(&url) {
                let p = relative_path(&url);
                proptest::prop_assert!(only_normal(&p), "{} -> {:?}", url, p);
                proptest::prop_assert!(p.starts_with("h"));
            }
        }
    }
}

//! Secrets kept out of what Tern prints: the password of a URL (`smpp://user:***@host:port`)
//! wherever a URL is shown, in the admin API's answers, `tern ctl`, logs and the audit
//! trail. The state keeps the real URL, since a link needs it to bind.

/// What a password is shown as.
const HIDDEN: &str = "***";

/// `url` with the password of its user-info replaced by `***`; a URL without one is
/// returned as it is. The credentials end at the last `@`, as [`super::LinkUrl`] reads
/// them, so a password holding `@` or `/` is hidden whole.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let Some(at) = url.rfind('@').filter(|at| *at > scheme_end) else {
        return url.to_owned();
    };
    match url[scheme_end..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:{HIDDEN}{}", &url[..scheme_end], &url[at..]),
        None => url.to_owned(),
    }
}

/// Every URL string of a TOML value, redacted. True when something changed.
fn redact_value(value: &mut toml::Value) -> bool {
    match value {
        toml::Value::String(text) if text.contains("://") => {
            let redacted = redact_url(text);
            let changed = redacted != *text;
            *text = redacted;
            changed
        }
        // Every item is visited: no stopping at the first change.
        toml::Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= redact_value(item);
            }
            changed
        }
        toml::Value::Table(table) => {
            let mut changed = false;
            for (_, item) in table.iter_mut() {
                changed |= redact_value(item);
            }
            changed
        }
        _ => false,
    }
}

/// A TOML table (a stored `[[upstream]]`) with the passwords of its URLs hidden. The
/// text keeps its layout and comments where the URL can be replaced in place; otherwise
/// it is written out again. Text that is not TOML is shown without its lines that hold
/// credentials.
pub fn redact_toml(text: &str) -> String {
    let Ok(mut table) = text.parse::<toml::Table>() else {
        return text
            .lines()
            .map(|line| {
                if line.contains("://") && line.contains('@') {
                    "# (a line with credentials, not shown)"
                } else {
                    line
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
    };
    let original = table.clone();
    let mut value = toml::Value::Table(std::mem::take(&mut table));
    if !redact_value(&mut value) {
        return text.to_owned();
    }
    let toml::Value::Table(redacted) = value else {
        return String::new();
    };
    // In place: each URL string that changed, replaced where it is written plainly.
    let mut in_place = text.to_owned();
    let mut pairs = Vec::new();
    collect_changes(
        &toml::Value::Table(original),
        &toml::Value::Table(redacted.clone()),
        &mut pairs,
    );
    for (before, after) in &pairs {
        in_place = in_place.replace(before.as_str(), after);
    }
    if in_place.parse::<toml::Table>().ok().as_ref() == Some(&redacted) {
        return in_place;
    }
    toml::to_string(&redacted).unwrap_or_default()
}

/// The strings that differ between `before` and `after` (same shape).
fn collect_changes(before: &toml::Value, after: &toml::Value, out: &mut Vec<(String, String)>) {
    match (before, after) {
        (toml::Value::String(a), toml::Value::String(b)) if a != b => {
            out.push((a.clone(), b.clone()));
        }
        (toml::Value::Array(a), toml::Value::Array(b)) => {
            for (a, b) in a.iter().zip(b) {
                collect_changes(a, b, out);
            }
        }
        (toml::Value::Table(a), toml::Value::Table(b)) => {
            for (key, a) in a {
                if let Some(b) = b.get(key) {
                    collect_changes(a, b, out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_hidden() {
        assert_eq!(redact_url("smpp://u:secret@h:1"), "smpp://u:***@h:1");
        assert_eq!(
            redact_url("cmpp://901234:s3cr@t/x@10.0.0.1:7890"),
            "cmpp://901234:***@10.0.0.1:7890"
        );
        assert_eq!(
            redact_url("https://hook:tok@example.net/x"),
            "https://hook:***@example.net/x"
        );
        assert_eq!(
            redact_url("https://example.net/a@b"),
            "https://example.net/a@b"
        );
        assert_eq!(redact_url("smpp://only-user@h:1"), "smpp://only-user@h:1");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn toml_tables_keep_their_layout_and_lose_their_passwords() {
        let text =
            "# carrier A\nname = \"a\"\nurl = \"smpp://tern:hunter2@127.0.0.1:2775\"\nwindow = 8\n";
        let shown = redact_toml(text);
        assert_eq!(
            shown,
            "# carrier A\nname = \"a\"\nurl = \"smpp://tern:***@127.0.0.1:2775\"\nwindow = 8\n"
        );
        // Escaped in the text: written out again, still without the password.
        let escaped = "name = \"a\"\nurl = \"smpp://tern:hunter\\u0032@h:1\"\n";
        let shown = redact_toml(escaped);
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(shown.contains("smpp://tern:***@h:1"), "{shown}");
        let broken = "url = \"smpp://tern:hunter2@h:1\"\n[[[";
        assert!(!redact_toml(broken).contains("hunter2"));
        assert_eq!(redact_toml("name = \"r\"\n"), "name = \"r\"\n");
    }
}

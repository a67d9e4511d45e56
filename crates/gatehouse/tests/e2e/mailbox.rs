//! Reading the mail Gatehouse sent: `.eml` files in a directory (the development outbox in
//! `<data_dir>/outbox/`, or the directory the SMTP sink writes what it received into), parsed
//! here just enough for tests: headers, the text and HTML parts (quoted-printable decoded).

use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Every header, unfolded, as `(lowercase name, value)`.
    pub headers: Vec<(String, String)>,
}

impl ReceivedMail {
    /// The first `http(s)://` address in the text part.
    pub fn link(&self) -> Option<String> {
        let start = self.text.find("http://").or_else(|| self.text.find("https://"))?;
        let rest = &self.text[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }

    /// The `token` query parameter of [`Self::link`].
    pub fn token(&self) -> Option<String> {
        let link = url::Url::parse(&self.link()?).ok()?;
        link.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Every message in `dir`, oldest first (file names sort by time).
pub fn read_dir(dir: &Path) -> Vec<ReceivedMail> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read_to_string(p).ok()).map(|raw| parse(&raw)).collect()
}

/// Waits (up to 15 s) until `dir` holds at least `count` messages to `to`, and returns them all.
pub async fn wait_for(dir: &Path, to: &str, count: usize) -> Vec<ReceivedMail> {
    for _ in 0..300 {
        let mails: Vec<_> = read_dir(dir).into_iter().filter(|m| m.to.eq_ignore_ascii_case(to)).collect();
        if mails.len() >= count {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} mails to {to} arrived in {}", dir.display());
}

pub fn parse(raw: &str) -> ReceivedMail {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let headers = unfold(head);
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
    let content_type = get("content-type");
    let (mut text, mut html) = (String::new(), String::new());
    if let Some(boundary) = content_type.split("boundary=").nth(1) {
        let boundary = boundary.trim_matches('"');
        for part in body.split(&format!("--{boundary}")) {
            let (phead, pbody) = part.trim_start_matches('\n').split_once("\n\n").unwrap_or(("", ""));
            let ph = unfold(phead);
            let pget =
                |n: &str| ph.iter().find(|(k, _)| k == n).map(|(_, v)| v.to_ascii_lowercase()).unwrap_or_default();
            let decoded = match pget("content-transfer-encoding").as_str() {
                "quoted-printable" => decode_qp(pbody),
                _ => pbody.to_owned(),
            };
            let ct = pget("content-type");
            if ct.starts_with("text/plain") {
                text = decoded;
            } else if ct.starts_with("text/html") {
                html = decoded;
            }
        }
    } else {
        text = body.to_owned();
    }
    ReceivedMail { to: address(&get("to")), subject: get("subject"), text, html, headers }
}

fn unfold(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    out
}

/// `Name <a@b>` or `a@b` → `a@b`.
fn address(v: &str) -> String {
    match (v.rfind('<'), v.rfind('>')) {
        (Some(s), Some(e)) if s < e => v[s + 1..e].to_owned(),
        _ => v.trim().to_owned(),
    }
}

fn decode_qp(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if let Some(h) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(h);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).trim_end().to_owned()
}

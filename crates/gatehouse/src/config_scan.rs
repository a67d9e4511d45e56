//! Secrets do not belong in the TOML file (it gets committed, copied and shown around). This scan
//! finds keys that look like secrets there — a password inside `database_url`; any key named
//! like *secret* or *password*; and any unknown key named like *token*, *key*, *credential* or
//! *private* (known settings such as `tokens.access_token_lifetime` or `tls.key_file` hold no
//! secret) — so that `gatehouse config check` and `gatehouse serve` can warn. The warnings name
//! the key, never the value.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use config::{Value, ValueKind};

use crate::config::Settings;

/// Key names containing these are secrets even when they are known settings.
const ALWAYS_SECRET: &[&str] = &["secret", "password", "passwd"];
/// Key names containing these suggest a secret unless they are known settings.
const MAYBE_SECRET: &[&str] = &["token", "key", "credential", "private"];

/// The TOML file `Settings::load` reads: `--config`, else `GATEHOUSE_CONFIG`, else
/// `./gatehouse.toml` when it exists.
pub fn config_file(explicit: Option<&Path>) -> Option<PathBuf> {
    let named = explicit.map(Path::to_path_buf).or_else(|| std::env::var_os("GATEHOUSE_CONFIG").map(PathBuf::from));
    named.or_else(|| Some(PathBuf::from("gatehouse.toml")).filter(|p| p.exists()))
}

/// One warning per secret-looking key in the file at `path`.
pub fn secret_warnings(path: &Path) -> anyhow::Result<Vec<String>> {
    let table = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .build()
        .and_then(config::Config::try_deserialize::<config::Map<String, Value>>)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut known = BTreeSet::new();
    if let Ok(defaults) = serde_json::to_value(Settings::default()) {
        setting_paths("", &defaults, &mut known);
    }
    let mut warnings = Vec::new();
    for (key, value) in table {
        walk(&key, &value, &known, &mut warnings);
    }
    warnings.sort();
    Ok(warnings)
}

/// Every setting's dotted path, from the defaults.
fn setting_paths(prefix: &str, value: &serde_json::Value, out: &mut BTreeSet<String>) {
    if let serde_json::Value::Object(map) = value {
        for (key, value) in map {
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            setting_paths(&path, value, out);
            out.insert(path);
        }
    }
}

fn walk(path: &str, value: &Value, known: &BTreeSet<String>, out: &mut Vec<String>) {
    match &value.kind {
        ValueKind::Table(table) => {
            for (key, value) in table {
                walk(&format!("{path}.{key}"), value, known, out);
            }
        }
        ValueKind::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                walk(&format!("{path}[{i}]"), value, known, out);
            }
        }
        ValueKind::String(text) if path == "database_url" || path == "redis_url" => {
            if url::Url::parse(text).is_ok_and(|u| u.password().is_some()) {
                let var = path.to_ascii_uppercase();
                out.push(format!(
                    "{path} contains a password: move the URL to a file named by \
                     GATEHOUSE_{var}_FILE (mode 0600) or to GATEHOUSE_{var}"
                ));
            }
        }
        _ => {
            // `a.list[2].b` is checked as `a.list.b`: keys inside arrays of tables (such as
            // `[[federation.providers]]`) are scanned like any other.
            let bare: String = path.split('.').map(|p| p.split('[').next().unwrap_or(p)).collect::<Vec<_>>().join(".");
            let leaf = bare.rsplit('.').next().unwrap_or(&bare).to_ascii_lowercase();
            // `*_env` / `*_file` name where a secret is (a variable, a path), not the secret.
            let pointer = leaf.ends_with("_env") || leaf.ends_with("_file");
            let secret = !pointer
                && (ALWAYS_SECRET.iter().any(|w| leaf.contains(w))
                    || (MAYBE_SECRET.iter().any(|w| leaf.contains(w)) && !known.contains(&bare)));
            if secret {
                out.push(format!(
                    "{path} looks like a secret: secrets are never read from the configuration file; \
                     use the environment or a *_FILE variable (e.g. GATEHOUSE_MASTER_KEY_FILE, \
                     GATEHOUSE_HS256_SECRET_FILE) and remove it from the file"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secrets_but_not_settings() {
        let dir = std::env::temp_dir().join(format!("gatehouse-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("g.toml");
        std::fs::write(
            &file,
            "database_url = \"postgres://gh:hunter2@db/gh\"\nredis_url = \"rediss://:hunter3@cache/0\"\n\
             master_key = \"AAAA\"\n\
             [tokens]\naccess_token_lifetime = 900\nid_token_lifetime = 600\n[tls]\nkey_file = \"/etc/k.pem\"\n\
             [smtp]\npassword = \"pw\"\napi_token = \"t\"\n",
        )
        .unwrap();
        let w = secret_warnings(&file).unwrap();
        let text = w.join("\n");
        assert_eq!(w.len(), 5, "{text}");
        assert!(text.contains("GATEHOUSE_REDIS_URL_FILE"), "{text}");
        for key in ["database_url", "redis_url", "master_key", "smtp.password", "smtp.api_token"] {
            assert!(text.contains(key), "{key}: {text}");
        }
        assert!(
            !text.contains("hunter2") && !text.contains("hunter3") && !text.contains("AAAA"),
            "values are never shown"
        );
        assert!(!text.contains("access_token_lifetime") && !text.contains("key_file"));
        std::fs::write(
            &file,
            "[[federation.providers]]\nid = \"g\"\nclient_secret = \"s3cr3t\"\nclient_secret_env = \"G\"\n\
             client_secret_file = \"/run/g\"\n",
        )
        .unwrap();
        let w = secret_warnings(&file).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("federation.providers[0].client_secret ") && !w[0].contains("s3cr3t"), "{w:?}");
        std::fs::write(&file, "database_url = \"postgres://gh@db/gh\"\n").unwrap();
        assert!(secret_warnings(&file).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

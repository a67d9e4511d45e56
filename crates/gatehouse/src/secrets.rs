//! Secrets from the environment or files, never from the TOML file: the master key that
//! encrypts signing keys (with the previous keys of a rotation), the optional HS256 secret,
//! and the SMTP password.

use std::path::Path;

use anyhow::{Context, bail};
use gatehouse_core::keys::MasterKey;
use zeroize::Zeroizing;

use crate::config::Settings;

/// The secrets the server needs, loaded once at start-up.
pub struct Secrets {
    pub master_key: MasterKey,
    /// Present only when access tokens are configured to use HS256.
    pub hs256: Option<Zeroizing<Vec<u8>>>,
}

impl Secrets {
    pub fn load(settings: &Settings) -> anyhow::Result<Self> {
        let hs256 = if settings.tokens.access_token_alg == "HS256" { Some(hs256_secret()?) } else { None };
        Ok(Self { master_key: master_key(settings)?, hs256 })
    }
}

/// `GATEHOUSE_MASTER_KEY` (base64 of 32 bytes), else `GATEHOUSE_MASTER_KEY_FILE`, else — for a
/// development (loopback http) setup only — `<data_dir>/master.key`, generated on first use
/// with mode 0600 and a loud warning. In production a missing master key stops start-up.
///
/// Previous keys, during a rotation (`GATEHOUSE_MASTER_KEY_PREVIOUS`: keys separated by commas
/// or whitespace; `GATEHOUSE_MASTER_KEY_PREVIOUS_FILE`: a 0600 file, one key per line; both may
/// be set) only open what they sealed; the current key seals everything new.
pub fn master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    Ok(current_master_key(settings)?.with_previous(previous_master_keys()?))
}

/// The keys of `GATEHOUSE_MASTER_KEY_PREVIOUS` and `GATEHOUSE_MASTER_KEY_PREVIOUS_FILE`.
pub fn previous_master_keys() -> anyhow::Result<Vec<MasterKey>> {
    let mut keys = Vec::new();
    if let Ok(text) = std::env::var("GATEHOUSE_MASTER_KEY_PREVIOUS") {
        for (n, part) in text.split(|c: char| c == ',' || c.is_whitespace()).filter(|p| !p.is_empty()).enumerate() {
            keys.push(MasterKey::parse(part).with_context(|| format!("GATEHOUSE_MASTER_KEY_PREVIOUS, key {}", n + 1))?);
        }
    }
    if let Ok(file) = std::env::var("GATEHOUSE_MASTER_KEY_PREVIOUS_FILE") {
        let text = Zeroizing::new(read_secret_file(Path::new(&file)).context("GATEHOUSE_MASTER_KEY_PREVIOUS_FILE")?);
        for (n, line) in text.lines().map(str::trim).enumerate().filter(|(_, l)| !l.is_empty() && !l.starts_with('#')) {
            keys.push(
                MasterKey::parse(line)
                    .with_context(|| format!("GATEHOUSE_MASTER_KEY_PREVIOUS_FILE {file}, line {}", n + 1))?,
            );
        }
    }
    Ok(keys)
}

fn current_master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Ok(text) = std::env::var("GATEHOUSE_MASTER_KEY") {
        return MasterKey::parse(&text).context("GATEHOUSE_MASTER_KEY");
    }
    if let Ok(file) = std::env::var("GATEHOUSE_MASTER_KEY_FILE") {
        let text = read_secret_file(Path::new(&file)).context("GATEHOUSE_MASTER_KEY_FILE")?;
        return MasterKey::parse(&text).with_context(|| format!("GATEHOUSE_MASTER_KEY_FILE {file}"));
    }
    if !settings.is_development() {
        bail!(
            "no master key: set GATEHOUSE_MASTER_KEY or GATEHOUSE_MASTER_KEY_FILE (32 random bytes, base64; \
             e.g. `openssl rand -base64 32`). A key file is generated automatically only for a loopback http issuer."
        );
    }
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    let path = settings.data_dir.join("master.key");
    if path.exists() {
        let text = read_secret_file(&path)?;
        return MasterKey::parse(&text).with_context(|| format!("{}", path.display()));
    }
    let (key, text) = MasterKey::generate()?;
    write_private(&path, text.as_bytes())?;
    tracing::warn!(
        path = %path.display(),
        "DEVELOPMENT MASTER KEY GENERATED: signing keys are encrypted with a key stored next to them. \
         In production set GATEHOUSE_MASTER_KEY or GATEHOUSE_MASTER_KEY_FILE and keep it elsewhere."
    );
    Ok(key)
}

/// The HS256 secret (`GATEHOUSE_HS256_SECRET` or `GATEHOUSE_HS256_SECRET_FILE`), raw bytes.
pub fn hs256_secret() -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if let Ok(text) = std::env::var("GATEHOUSE_HS256_SECRET") {
        return Ok(Zeroizing::new(text.into_bytes()));
    }
    if let Ok(file) = std::env::var("GATEHOUSE_HS256_SECRET_FILE") {
        let text = read_secret_file(Path::new(&file)).context("GATEHOUSE_HS256_SECRET_FILE")?;
        return Ok(Zeroizing::new(text.trim_end_matches(['\r', '\n']).as_bytes().to_vec()));
    }
    bail!(
        "tokens.access_token_alg = \"HS256\" needs GATEHOUSE_HS256_SECRET or GATEHOUSE_HS256_SECRET_FILE (at least 32 bytes)"
    )
}

/// The SMTP password (`GATEHOUSE_MAIL__SMTP_PASSWORD`, else the 0600 file named by
/// `GATEHOUSE_MAIL__SMTP_PASSWORD_FILE`); `None` when neither is set.
pub fn smtp_password() -> anyhow::Result<Option<Zeroizing<String>>> {
    if let Ok(text) = std::env::var("GATEHOUSE_MAIL__SMTP_PASSWORD") {
        return Ok(Some(Zeroizing::new(text)));
    }
    if let Ok(file) = std::env::var("GATEHOUSE_MAIL__SMTP_PASSWORD_FILE") {
        let text = read_secret_file(Path::new(&file)).context("GATEHOUSE_MAIL__SMTP_PASSWORD_FILE")?;
        return Ok(Some(Zeroizing::new(text)));
    }
    Ok(None)
}

/// Reads a secret file, refusing one that other users can read.
pub fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by other users (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    Ok(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?.trim().to_owned())
}

/// Creates `path` with mode 0600 (never overwriting an existing file) and writes `contents`.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

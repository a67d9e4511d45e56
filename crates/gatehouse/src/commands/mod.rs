//! Command implementations other than `serve`. They print their results on standard output.
#![allow(clippy::print_stdout)]

pub mod clients;
pub mod exchange_rules;
pub mod invitations;
pub mod keys;
pub mod policies;
pub mod providers;
pub mod resources;
pub mod roles;
pub mod users;

use crate::cli::ConfigCommand;
use crate::config::Settings;

/// `gatehouse migrate`: applies pending migrations to the configured database.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    settings.validate()?;
    if settings.database_url().starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.data_dir)?;
    }
    let applied = gatehouse_store::migrate(&settings.database_url()).await?;
    println!("{applied} migration(s) applied to {}", gatehouse_store::redact_url(&settings.database_url()));
    Ok(())
}

/// `gatehouse config check`: validates and prints the effective configuration, and warns about
/// secrets written into the configuration file (on stderr, or as `warnings` with `--json`).
pub fn config_check(
    settings: &Settings,
    config_file: Option<&std::path::Path>,
    cmd: ConfigCommand,
) -> anyhow::Result<()> {
    let ConfigCommand::Check { json } = cmd;
    let mut shown = settings.clone();
    shown.database_url = gatehouse_store::redact_url(&settings.database_url());
    shown.redis_url = gatehouse_store::redact_url(&settings.redis_url);
    let problems = settings.validate().err();
    let warnings = match config_file {
        Some(file) => crate::config_scan::secret_warnings(file)?,
        None => Vec::new(),
    };
    if json {
        let value = serde_json::json!({
            "settings": shown,
            "valid": problems.is_none(),
            "error": problems.as_ref().map(|e| format!("{e:#}")),
            "warnings": warnings,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&shown)?);
        for warning in &warnings {
            eprintln!("warning: {warning}");
        }
    }
    match problems {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

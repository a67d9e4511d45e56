//! `gatehouse`: parse the command line, load configuration, dispatch.
#![allow(clippy::print_stdout)] // a command-line program prints its results

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use gatehouse::cli::{Cli, Command};
use gatehouse::config::Settings;
use gatehouse::secrets::Secrets;
use gatehouse::{commands, config_scan, server, telemetry};
use gatehouse_core::SystemClock;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.global.config.as_deref(), &cli.overrides()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    let config_file = config_scan::config_file(cli.global.config.as_deref());
    let result = match cli.command {
        Command::Serve(_) => serve(settings, config_file).await,
        Command::Migrate => commands::migrate(&settings).await,
        Command::Users(cmd) => commands::users::run(&settings, cmd).await,
        Command::Config(cmd) => commands::config_check(&settings, config_file.as_deref(), cmd),
        Command::Keys(cmd) => commands::keys::run(&settings, cmd).await,
        Command::Clients(cmd) => commands::clients::run(&settings, cmd).await,
        Command::Resources(cmd) => commands::resources::run(&settings, cmd).await,
        Command::Roles(cmd) => commands::roles::run_roles(&settings, cmd).await,
        Command::Permissions(cmd) => commands::roles::run_permissions(&settings, cmd).await,
        Command::Policies(cmd) => commands::policies::run(&settings, cmd).await,
        Command::Providers(cmd) => commands::providers::run(&settings, cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings, config_file: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    settings.validate()?;
    if let Some(file) = config_file {
        for warning in config_scan::secret_warnings(&file)? {
            tracing::warn!(file = %file.display(), "{warning}");
        }
    }
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
    let addr = listener.local_addr()?;
    let secrets = Secrets::load(&settings)?;
    let scheme = if settings.tls.enabled() { "https" } else { "http" };
    // Before the address is announced: whoever reads it may signal at once.
    let shutdown = server::shutdown_signal();
    println!("Gatehouse listening on {scheme}://{addr} (issuer {})", settings.issuer);
    server::run(settings, secrets, Arc::new(SystemClock), listener, shutdown).await
}

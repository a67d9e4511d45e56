//! `gatehouse`: parse the command line, load configuration, dispatch.
#![allow(clippy::print_stdout)] // a command-line program prints its results

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use gatehouse::cli::{Cli, Command};
use gatehouse::config::Settings;
use gatehouse::secrets::Secrets;
use gatehouse::{commands, server, telemetry};
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
    let result = match cli.command {
        Command::Serve(_) => serve(settings).await,
        Command::Migrate => commands::migrate(&settings).await,
        Command::Users(cmd) => commands::users::run(&settings, cmd).await,
        Command::Config(cmd) => commands::config_check(&settings, cmd),
        Command::Keys(cmd) => commands::keys::run(&settings, cmd).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    settings.validate()?;
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
    let addr = listener.local_addr()?;
    let secrets = Secrets::load(&settings)?;
    println!("Gatehouse listening on http://{addr} (issuer {})", settings.issuer);
    server::run(settings, secrets, Arc::new(SystemClock), listener, server::shutdown_signal()).await
}

//! `deploy/systemd/gatehouse.service` names only real things: its `ExecStart` parses with our
//! CLI (as `serve`, with the global flags it gives), and every `GATEHOUSE_*` variable it sets
//! (also the commented rotation lines) is one the binary reads. `.ci/run` runs
//! `systemd-analyze verify` on it where systemd is installed.

use clap::Parser;
use gatehouse::cli::{Cli, Command};

const UNIT: &str = include_str!("../../../../deploy/systemd/gatehouse.service");
const SOURCES: [&str; 2] = [include_str!("../../src/secrets.rs"), include_str!("../../src/config.rs")];

/// `key=value` lines of the unit, commented-out ones included when `commented`.
fn directives(key: &str, commented: bool) -> Vec<String> {
    UNIT.lines()
        .map(str::trim)
        .filter_map(|l| if commented { l.strip_prefix('#').or(Some(l)) } else { Some(l) })
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_units_command_line_and_variables_are_real() {
    let exec = directives("ExecStart", false);
    assert_eq!(exec.len(), 1);
    let args: Vec<&str> = exec[0].split_whitespace().collect();
    assert_eq!(args[0], "/usr/local/bin/gatehouse");
    let cli = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("ExecStart does not parse: {e}"));
    assert!(matches!(cli.command, Command::Serve(_)), "the unit serves");
    assert_eq!(cli.global.data_dir.as_deref(), Some(std::path::Path::new("/var/lib/gatehouse")));
    assert!(directives("StateDirectory", false) == ["gatehouse"], "the data dir is the StateDirectory");

    let env = directives("Environment", true);
    assert!(env.len() >= 4, "{env:?}");
    let credentials: Vec<String> =
        directives("LoadCredential", true).iter().map(|c| c.split(':').next().unwrap().to_owned()).collect();
    for line in &env {
        let (name, value) = line.split_once('=').unwrap();
        assert!(
            SOURCES.iter().any(|src| src.contains(&format!("\"{name}\""))),
            "{name} is not read by the binary (secrets.rs / config.rs)"
        );
        if let Some(file) = value.strip_prefix("%d/") {
            assert!(credentials.iter().any(|c| c == file), "{name} points at credential {file}, which is not loaded");
        }
    }
    for hardening in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "Restart=on-failure",
        "Type=simple",
    ] {
        assert!(UNIT.lines().any(|l| l.trim() == hardening), "{hardening} missing");
    }
}

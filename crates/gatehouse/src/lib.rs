//! The `gatehouse` binary's library half: configuration, wiring a storage backend into the
//! core services, and the server loop. `main.rs` is only the command-line front.

pub mod backchannel;
pub mod cli;
pub mod commands;
pub mod config;
pub mod config_scan;
pub mod listen;
pub mod mail;
pub mod secrets;
pub mod self_registration;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod web_config;

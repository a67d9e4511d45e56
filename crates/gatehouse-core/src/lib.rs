//! Gatehouse core: the domain and protocol rules of the identity server.
//!
//! This crate knows nothing of HTTP or SQL: it holds the domain types (users, sessions, audit
//! events), the rules (password policy, hashing, session lifetimes) and the storage traits that
//! `gatehouse-store` implements. The dependency rule "no axum, sqlx or redis here" is enforced by
//! a test in this crate (`tests::core_has_no_web_or_sql_dependencies`).

pub mod abuse;
pub mod account;
pub mod acr;
pub mod audit;
pub mod clock;
pub mod csrf;
pub mod email;
pub mod federation;
pub mod invitation;
pub mod keys;
pub mod mail;
pub mod mfa;
pub mod oauth;
pub mod password;
pub mod policy;
pub mod random;
pub mod rbac;
pub mod scale_out;
pub mod session;
pub mod store;
pub mod token;
pub mod user;

pub use account::{AccountError, AccountService, AccountSettings, AccountStores, Credential, SignedIn};
pub use audit::{AuditEvent, RequestContext};
pub use clock::{Clock, ManualClock, OffsetClock, SystemClock, UnixTime};
pub use email::Email;
pub use password::{HashParams, Password, PasswordHasher, PasswordPolicy};
pub use session::{Session, SessionSettings, SessionToken};
pub use store::{
    AssertionReplayStore, AuditStore, AuthorizationCodeStore, ClientStore, ConsentStore, HealthCheck, KeyStore,
    RbacStore, RefreshTokenStore, SessionStore, StoreError, UserStore,
};
pub use user::{User, UserId, UserStatus};

#[cfg(test)]
mod tests {
    use std::process::Command;

    /// DESIGN.md §2: "Core never sees HTTP or SQL". Checked on the resolved dependency graph,
    /// so a transitive dependency cannot sneak a web framework or a database driver in either.
    #[test]
    fn core_has_no_web_or_sql_dependencies() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let out = Command::new(cargo)
            .args(["tree", "-p", "gatehouse-core", "-e", "normal", "--prefix", "none", "--offline"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo tree runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let tree = String::from_utf8_lossy(&out.stdout);
        assert!(tree.contains("gatehouse-core"), "unexpected cargo tree output: {tree}");
        for line in tree.lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            for forbidden in ["axum", "hyper", "tower", "sqlx", "redis", "libsqlite3-sys"] {
                assert!(
                    !(name == forbidden || name.starts_with(&format!("{forbidden}-"))),
                    "gatehouse-core depends on {name}"
                );
            }
        }
    }
}

//! `gatehouse users …`: account management on the configured database.

use std::io::BufRead;
use std::sync::Arc;

use anyhow::{Context, bail};
use gatehouse_core::rbac::AdminCapability;
use gatehouse_core::{AccountService, Credential, Password, RequestContext, SystemClock, User, UserId};
use serde_json::json;

use crate::cli::UsersCommand;
use crate::config::Settings;
use crate::server;

const ACTOR: &str = "cli";

pub async fn run(settings: &Settings, cmd: UsersCommand) -> anyhow::Result<()> {
    let services = server::build(settings, Arc::new(SystemClock), settings.auto_migrate).await?;
    let accounts = services.accounts.as_ref();
    let ctx = RequestContext::cli();
    match cmd {
        UsersCommand::Create { email, display_name, password_stdin, password_hash_stdin, json } => {
            let secret = match (password_stdin, password_hash_stdin) {
                (false, false) => bail!(
                    "give the password on standard input with --password-stdin (or an imported hash with --password-hash-stdin)"
                ),
                _ => read_stdin_line()?,
            };
            let password = Password::new(secret.clone());
            let credential =
                if password_hash_stdin { Credential::ImportedHash(&secret) } else { Credential::Password(&password) };
            let user = accounts.create_user(&email, credential, display_name.as_deref(), ACTOR, &ctx).await?;
            print_user(&user, json);
        }
        UsersCommand::List { limit, after, json } => {
            let after = match after {
                Some(a) => Some(UserId::parse(&a).context("--after takes a user id")?),
                None => None,
            };
            let users = accounts.list_users(after, limit).await?;
            if json {
                println!("{}", serde_json::Value::Array(users.iter().map(user_json).collect()));
            } else {
                for u in &users {
                    println!("{}  {}  {}", u.id, u.status.as_str(), u.email);
                }
            }
        }
        UsersCommand::Show { user, json } => print_user(&find(accounts, &user).await?, json),
        UsersCommand::SetPassword { user, json, .. } => {
            let user = find(accounts, &user).await?;
            let password = Password::new(read_stdin_line()?);
            accounts.set_password(user.id, &password, ACTOR, &ctx).await?;
            report(
                json,
                json!({ "id": user.id, "password_changed": true }),
                &format!("password changed for {}", user.email),
            );
        }
        UsersCommand::Invite { email, roles, json } => {
            super::invitations::invite(&services, &email, &roles, json).await?;
        }
        UsersCommand::Invitations(cmd) => super::invitations::run(&services, cmd).await?,
        UsersCommand::Disable { user, json } => {
            let user = find(accounts, &user).await?;
            let ended = accounts.disable_user(user.id, ACTOR, &ctx).await?;
            report(
                json,
                json!({ "id": user.id, "status": "disabled", "sessions_ended": ended }),
                &format!("{} disabled; {ended} session(s) ended", user.email),
            );
        }
        UsersCommand::ResetMfa { user, json } => {
            let user = find(accounts, &user).await?;
            let removed = accounts.reset_mfa(&AdminCapability::operator_cli(), user.id, &ctx).await?;
            let text = if removed {
                format!("two-step sign-in reset for {}", user.email)
            } else {
                format!("{} had no second factor", user.email)
            };
            report(json, json!({ "id": user.id, "mfa_reset": removed }), &text);
        }
    }
    Ok(())
}

async fn find(accounts: &AccountService, user: &str) -> anyhow::Result<User> {
    accounts.find_user(user).await.with_context(|| format!("no user {user:?}"))
}

/// One line from standard input, without its line ending (never echoed, never logged).
fn read_stdin_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading standard input")?;
    let trimmed = line.trim_end_matches(['\r', '\n']);
    if trimmed.is_empty() {
        bail!("standard input was empty");
    }
    Ok(trimmed.to_owned())
}

fn user_json(u: &User) -> serde_json::Value {
    json!({
        "id": u.id,
        "email": u.email.as_str(),
        "display_name": u.display_name,
        "status": u.status.as_str(),
        "email_verified": u.email_verified,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    })
}

fn print_user(u: &User, json: bool) {
    if json {
        println!("{}", user_json(u));
    } else {
        println!("id:             {}", u.id);
        println!("email:          {}", u.email);
        println!("display name:   {}", u.display_name.as_deref().unwrap_or("-"));
        println!("status:         {}", u.status.as_str());
        println!("email verified: {}", u.email_verified);
    }
}

fn report(json: bool, value: serde_json::Value, text: &str) {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

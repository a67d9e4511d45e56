//! Who is calling, and the admin capability handed out after the check (the lldap pattern:
//! the privileged operations are reachable only through a value the check produced).

use std::fmt;

use crate::user::UserId;

/// The built-in role that may use Gatehouse's admin API. Created by migration 0005.
pub const ADMIN_ROLE: &str = "admin";
/// The scope a client-credentials token needs for the admin API.
pub const ADMIN_SCOPE: &str = "gatehouse:admin";

/// A verified caller, as the HTTP layer read it from an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A user's token (`sub` is a user id), issued to `client_id` with `scopes`; `amr` is the
    /// token's RFC 8176 `amr` (how the user signed in; `mfa` with a second factor).
    User { id: UserId, client_id: String, scopes: Vec<String>, amr: Vec<String> },
    /// A client acting for itself (client credentials: `sub` = `client_id`).
    Client { id: String, scopes: Vec<String> },
}

/// Who performed an admin action, as recorded in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    Client(String),
    /// The `gatehouse` command line (an operator with access to the server's configuration).
    Cli,
}

impl fmt::Display for Actor {
    /// The audit trail's `actor` column: a user id, `client:<id>`, or `cli`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => write!(f, "{id}"),
            Self::Client(id) => write!(f, "client:{id}"),
            Self::Cli => f.write_str("cli"),
        }
    }
}

/// Proof that the caller may use the admin API. The field is private: outside this module it
/// is obtained only from [`super::AdminService::authorize`] (or [`Self::operator_cli`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCapability {
    actor: Actor,
}

impl AdminCapability {
    pub(super) fn granted(actor: Actor) -> Self {
        Self { actor }
    }

    /// For the `gatehouse` command line only: whoever can run it can read the database URL and
    /// master key anyway. Never called by the HTTP layer (checked by a test there).
    pub fn operator_cli() -> Self {
        Self { actor: Actor::Cli }
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The acting user, when a user (not a client or the CLI) acts.
    pub fn acting_user(&self) -> Option<UserId> {
        match &self.actor {
            Actor::User(id) => Some(*id),
            _ => None,
        }
    }
}

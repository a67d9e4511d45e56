//! Command-line interface definition.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;

#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about = "Gatehouse identity and access server")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts; they override the config file and the environment.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file (TOML). Default: ./gatehouse.toml when it exists.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (default ./gatehouse-data).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://… (default: SQLite in the data directory).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage token-signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage OAuth clients (applications).
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage resource servers: the APIs access tokens are for (RFC 8707 `resource`).
    #[command(subcommand)]
    Resources(crate::commands::resources::ResourcesCommand),
    /// Manage roles and who holds them (users and clients).
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Manage permissions (`resource:action`) and which roles have them.
    #[command(subcommand)]
    Permissions(PermissionsCommand),
    /// Manage Cedar policies and the Cedar schema; test a decision locally.
    #[command(subcommand)]
    Policies(PoliciesCommand),
    /// Upstream identity providers ("Sign in with …") from the configuration.
    #[command(subcommand)]
    Providers(ProvidersCommand),
}

#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// List the configured providers with the redirect URI to register at each.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Create a role (name: a-z, 0-9, '_', '.', '-').
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List roles with their permissions.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Grant a role to a user (id or email) or a client.
    Grant {
        role: String,
        #[arg(long, required_unless_present = "client", conflicts_with = "client")]
        user: Option<String>,
        #[arg(long)]
        client: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Take a role away from a user or a client (never from the last active admin).
    Revoke {
        role: String,
        #[arg(long, required_unless_present = "client", conflicts_with = "client")]
        user: Option<String>,
        #[arg(long)]
        client: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PermissionsCommand {
    /// Create a permission named resource:action (e.g. posts:delete).
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Give a permission to a role.
    Grant {
        permission: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        json: bool,
    },
    /// Take a permission away from a role.
    Revoke {
        permission: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// Store a new version of a named policy (Cedar text from FILE, or standard input).
    /// Refused, with Cedar's message, when it does not parse or validate against the schema.
    Put {
        name: String,
        file: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The active policies (latest version of each).
    List {
        #[arg(long)]
        json: bool,
    },
    /// A policy's current text and its versions.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a policy (its history stays).
    Delete {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Evaluate an AuthZEN evaluation request (JSON from FILE, or standard input) against the
    /// stored roles and policies, and print the decision with its explanation.
    Test {
        file: Option<std::path::PathBuf>,
        /// Evaluate as if the time were this Unix timestamp (for `context.hour` and friends).
        #[arg(long)]
        at: Option<i64>,
        /// Evaluate as if the subject's token showed a second factor (`principal.mfa` true): the
        /// decision API takes that only from the subject's own token.
        #[arg(long)]
        mfa: bool,
        #[arg(long)]
        json: bool,
    },
    /// The Cedar schema the policies are validated against.
    #[command(subcommand)]
    Schema(SchemaCommand),
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Print the schema in force (the built-in default until one is stored).
    Get,
    /// Store a new schema (from FILE, or standard input); refused when it does not parse or
    /// would invalidate a stored policy.
    Put {
        file: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client. A confidential client's secret is printed once and never again.
    Create {
        #[arg(long)]
        name: String,
        /// authorization_code (default), refresh_token, client_credentials,
        /// urn:ietf:params:oauth:grant-type:device_code; repeatable.
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// Exact redirect URI; repeatable.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Allowed scope; repeatable (e.g. openid, profile, email, offline_access, posts:read).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A public client (browser or native app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// client_secret_basic (default), client_secret_post or private_key_jwt (needs --jwks-file).
        #[arg(long)]
        auth_method: Option<String>,
        /// The client's public JWK Set (a JSON file `{"keys": [...]}`), for private_key_jwt.
        #[arg(long)]
        jwks_file: Option<std::path::PathBuf>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Browser origin allowed to call the token, userinfo and revocation endpoints.
        #[arg(long = "cors-origin")]
        cors_origins: Vec<String>,
        /// First-party application: users are not asked for consent.
        #[arg(long)]
        skip_consent: bool,
        /// Every sign-in for this application must use a second factor (acr
        /// urn:gatehouse:acr:mfa); users without one get no code.
        #[arg(long)]
        require_mfa: bool,
        /// Authorization requests must be pushed to /oauth2/par first (RFC 9126); plain
        /// requests to /oauth2/authorize are refused.
        #[arg(long = "require-par")]
        require_par: bool,
        /// OpenID Connect Back-Channel Logout 1.0: logout tokens are POSTed to this URL when a
        /// session the client signed in to ends (https, or http on loopback; no fragment).
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// Logout tokens must carry the session id (`sid`).
        #[arg(long)]
        backchannel_logout_session_required: bool,
        /// Every token request must carry a DPoP proof (RFC 9449 §5.2 dpop_bound_access_tokens).
        #[arg(long)]
        dpop_bound_access_tokens: bool,
        /// Access-token lifetime in seconds for this client.
        #[arg(long)]
        access_token_lifetime: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a client with its consents; its refresh tokens and access tokens stop working.
    Delete {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a client's settings; what is not given stays. Checked by the registration's rules.
    Update {
        client_id: String,
        #[arg(long)]
        name: Option<String>,
        /// Replaces every redirect URI; repeatable.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Replaces every post-logout redirect URI; repeatable.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Removes every post-logout redirect URI.
        #[arg(long, conflicts_with = "post_logout_redirect_uris")]
        clear_post_logout_redirect_uris: bool,
        /// Replaces every CORS origin; repeatable.
        #[arg(long = "cors-origin")]
        cors_origins: Vec<String>,
        /// Removes every CORS origin.
        #[arg(long, conflicts_with = "cors_origins")]
        clear_cors_origins: bool,
        /// Replaces the allowed scopes; repeatable.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Replaces the grant types; repeatable.
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// true or false.
        #[arg(long)]
        skip_consent: Option<bool>,
        /// true or false.
        #[arg(long)]
        require_mfa: Option<bool>,
        /// true or false: authorization requests must be pushed first (RFC 9126).
        #[arg(long = "require-par")]
        require_par: Option<bool>,
        /// Back-channel logout URL; "none" removes it.
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// true or false.
        #[arg(long)]
        backchannel_logout_session_required: Option<bool>,
        /// true or false: every token request must carry a DPoP proof (RFC 9449 §5.2).
        #[arg(long)]
        dpop_bound_access_tokens: Option<bool>,
        /// none, client_secret_basic, client_secret_post or private_key_jwt (with --jwks-file).
        /// A switch to client_secret_* of a client without a secret prints a new one, once.
        #[arg(long)]
        auth_method: Option<String>,
        /// Seconds, or "default" for the server's.
        #[arg(long)]
        access_token_lifetime: Option<String>,
        /// The JWK Set for a switch to private_key_jwt.
        #[arg(long)]
        jwks_file: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Issue a new secret (printed once); the old one keeps working for the overlap.
    RotateSecret {
        client_id: String,
        /// How long the old secret keeps working: seconds, or with a unit (30m, 12h, 1d);
        /// 0 ends it now; at most 30d. Default 1d.
        #[arg(long)]
        overlap: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Replace a private_key_jwt client's JWK Set.
    SetJwks {
        client_id: String,
        #[arg(long)]
        jwks_file: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Disable a client: no new tokens, and the tokens it holds stop working.
    Disable {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Enable a disabled client again.
    Enable {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// A client's token exchange rules (RFC 8693): without one it may not exchange tokens.
    #[command(subcommand)]
    ExchangeRules(ExchangeRulesCommand),
    /// Initial access tokens for dynamic client registration (RFC 7591 §3), needed when
    /// `[oauth.registration] mode = "initial_access_token"`.
    #[command(subcommand)]
    RegistrationToken(RegistrationTokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum RegistrationTokenCommand {
    /// Issue a token (printed once; stored hashed). Anyone holding it may register clients at
    /// /oauth2/register until it expires.
    Create {
        /// Lifetime in seconds (60 to 31536000). Default: one day.
        #[arg(long, default_value_t = 86_400)]
        expires_in: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExchangeRulesCommand {
    /// List a client's exchange rules.
    List {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Allow a (confidential) client to exchange tokens of the given clients for the given
    /// audiences and at most the given scopes.
    Add {
        client_id: String,
        /// Client whose access tokens may be exchanged, or `*` for any; repeatable.
        #[arg(long = "subject-client", required = true)]
        subject_clients: Vec<String>,
        /// Audience of the new token: a registered client id or the default audience; repeatable.
        #[arg(long = "audience", required = true)]
        audiences: Vec<String>,
        /// The most the new token may carry; repeatable.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Allow exchanges without an actor_token (the new token speaks as the subject).
        #[arg(long)]
        impersonation: bool,
        /// Allow exchanges with an actor_token (the new token carries `act`).
        #[arg(long)]
        delegation: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove one rule.
    Remove {
        client_id: String,
        rule_id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their state (next, active, retired).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Create a new key: published now, signing after the publish delay (or at once).
    Rotate {
        /// ES256, EdDSA or RS256 (default: all three).
        #[arg(long)]
        alg: Option<String>,
        /// Sign with the new key at once (after a suspected key compromise). Caches of the
        /// JWKS may not know it yet, so some clients reject tokens until they refetch.
        #[arg(long)]
        immediately: bool,
        #[arg(long)]
        json: bool,
    },
    /// Seal every secret (signing keys, TOTP secrets, queued mail) again under the current
    /// master key, so the previous keys (GATEHOUSE_MASTER_KEY_PREVIOUS / _PREVIOUS_FILE) can be
    /// dropped. Safe while nodes serve and safe to repeat; exits non-zero until everything is
    /// under the current key.
    Rewrap {
        /// Count what would be rewrapped; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Values read per query (1..=10000).
        #[arg(long, default_value_t = 100)]
        batch_size: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub bind: Option<SocketAddr>,
    /// Public base URL (default http://127.0.0.1:8080).
    #[arg(long)]
    pub issuer: Option<String>,
    /// Serve HTTPS with a self-signed certificate for the issuer's host, generated into the data
    /// directory on first use (development only; the issuer must be https).
    #[arg(long)]
    pub tls_self_signed: bool,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user. The password (or an imported hash) is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long, conflicts_with = "password_hash_stdin")]
        password_stdin: bool,
        /// Read an existing bcrypt or Argon2 hash from standard input (import; upgraded to
        /// Argon2id on first login).
        #[arg(long)]
        password_hash_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List users in creation order.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Show users created after this user id.
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one user, by id or email.
    Show {
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password (read from standard input) and end all of their sessions.
    SetPassword {
        user: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Disable a user and end all of their sessions at once.
    Disable {
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a user's second factors (authenticator app, passkeys, recovery codes), for a user who
    /// lost them; the user is told by mail and can sign in with the password and set up again.
    ResetMfa {
        /// Email address or user id.
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Invite an address: a single-use link to create the account (with the given roles) is
    /// mailed to it. Prints the invitation's id and expiry, never the link.
    Invite {
        #[arg(long)]
        email: String,
        /// A role granted on acceptance (repeatable); each must exist.
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List or revoke invitations.
    #[command(subcommand)]
    Invitations(InvitationsCommand),
}

#[derive(Debug, Subcommand)]
pub enum InvitationsCommand {
    /// List invitations in creation order, with their status.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Show invitations created after this invitation id.
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an invitation: its link stops working.
    Revoke {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets redacted, after validating it.
    Check {
        #[arg(long)]
        json: bool,
    },
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        let (bind, issuer, tls_self_signed) = match &self.command {
            Command::Serve(s) => (s.bind, s.issuer.clone(), s.tls_self_signed),
            _ => (None, None, false),
        };
        Overrides {
            bind,
            issuer,
            data_dir: self.global.data_dir.clone(),
            database_url: self.global.database_url.clone(),
            tls_self_signed,
        }
    }
}

//! `OAuthService`: the authorization server's state and its non-grant operations — consent,
//! authorization codes (client authentication is in `client_auth`).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde_json::json;
use uuid::Uuid;

use super::authorize::AuthorizeRequest;
use super::client::Client;
use super::code::{AuthorizationCode, CODE_LIFETIME};
use super::error::OAuthError;
use crate::account::AccountService;
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::{Clock, UnixTime};
use crate::keys::KeyService;
use crate::random;
use crate::rbac::RbacStore;
use crate::store::{
    AssertionReplayStore, AuditStore, AuthorizationCodeStore, ClientStore, ConsentStore, DeviceCodeStore,
    ResourceServerStore,
};
use crate::token::{RefreshService, TokenIssuer};
use crate::user::UserId;

#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// The issuer identifier (`iss`), no trailing slash.
    pub issuer: String,
    /// Require PKCE from confidential clients too (default true; RFC 9700 §2.1.1).
    pub require_pkce: bool,
    /// ID token lifetime in seconds.
    pub id_token_lifetime: i64,
    /// RFC 9126 §5: every client must push its authorization requests (PAR) first.
    pub require_pushed_authorization_requests: bool,
}

/// How long an authorization request stays parked while its user signs in.
const PARKED_LIFETIME: i64 = 600;

pub struct OAuthService {
    pub(super) clients: Arc<dyn ClientStore>,
    pub(super) codes: Arc<dyn AuthorizationCodeStore>,
    pub(super) consents: Arc<dyn ConsentStore>,
    pub(super) accounts: Arc<AccountService>,
    pub(super) refresh: Arc<RefreshService>,
    pub(super) issuer: Arc<TokenIssuer>,
    pub(super) keys: Arc<KeyService>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: OAuthSettings,
    /// The `jti`s of accepted client assertions (private_key_jwt).
    pub(super) assertion_jtis: Arc<dyn AssertionReplayStore>,
    /// Accepted client assertions, counted to purge expired `jti`s now and then.
    pub(super) assertions_seen: AtomicU64,
    /// Roles and permissions for the `roles` / `permissions` token claims.
    pub(super) rbac: Arc<dyn RbacStore>,
    /// Consents given and withdrawn, codes replayed.
    pub(super) audit: Auditor,
    /// Device authorization requests (RFC 8628).
    pub(super) devices: Arc<dyn DeviceCodeStore>,
    /// Registered resource servers and the resources of grants (RFC 8707).
    pub(super) resources: Arc<dyn ResourceServerStore>,
    /// Token exchange rules (RFC 8693).
    pub(super) exchange_rules: Arc<dyn super::ExchangeRuleStore>,
    /// First use of self-registered clients (for the sweeper of unused registrations).
    pub(super) self_registration: Option<Arc<dyn super::SelfRegistrationStore>>,
}

impl OAuthService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        clients: Arc<dyn ClientStore>,
        codes: Arc<dyn AuthorizationCodeStore>,
        consents: Arc<dyn ConsentStore>,
        accounts: Arc<AccountService>,
        refresh: Arc<RefreshService>,
        issuer: Arc<TokenIssuer>,
        keys: Arc<KeyService>,
        clock: Arc<dyn Clock>,
        settings: OAuthSettings,
        assertion_jtis: Arc<dyn AssertionReplayStore>,
        rbac: Arc<dyn RbacStore>,
        audit: Arc<dyn AuditStore>,
        devices: Arc<dyn DeviceCodeStore>,
        resources: Arc<dyn ResourceServerStore>,
        exchange_rules: Arc<dyn super::ExchangeRuleStore>,
    ) -> Self {
        let audit = Auditor::new(audit, clock.clone());
        Self {
            clients,
            codes,
            consents,
            accounts,
            refresh,
            issuer,
            keys,
            clock,
            settings,
            assertion_jtis,
            assertions_seen: AtomicU64::new(0),
            rbac,
            audit,
            devices,
            resources,
            exchange_rules,
            self_registration: None,
        }
    }

    /// Records the first use of self-registered clients in `store`.
    pub fn with_self_registration(mut self, store: Arc<dyn super::SelfRegistrationStore>) -> Self {
        self.self_registration = Some(store);
        self
    }

    /// A self-registered client authenticated: it is in use (the sweeper leaves it alone).
    pub(super) async fn note_use(&self, client: &Client) {
        if let Some(store) = &self.self_registration
            && client.lifecycle.registration.is_self_registered()
            && client.lifecycle.first_used_at.is_none()
            && let Err(e) = store.mark_client_used(&client.id, self.clock.now()).await
        {
            tracing::warn!(error = %e, "first use of a self-registered client not recorded");
        }
    }

    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    pub async fn client(&self, id: &str) -> Result<Option<Client>, OAuthError> {
        Ok(self.clients.client_by_id(id).await?)
    }

    /// Whether a public client registered `origin` for browser calls (CORS).
    pub async fn origin_registered(&self, origin: &str) -> bool {
        match self.clients.list_clients().await {
            Ok(clients) => clients.iter().any(|c| c.is_public() && c.cors_origins.iter().any(|o| o == origin)),
            Err(e) => {
                tracing::warn!(error = %e, "client origins unavailable");
                false
            }
        }
    }

    /// Whether the user must be asked (again) for the requested scopes.
    pub async fn needs_consent(&self, user: UserId, req: &AuthorizeRequest) -> Result<bool, OAuthError> {
        if req.client.skip_consent && !req.prompt.consent {
            return Ok(false);
        }
        if req.prompt.consent {
            return Ok(true);
        }
        let granted = self.consents.consent(user, &req.client.id).await?;
        Ok(!granted.is_some_and(|c| req.scope.is_subset_of(&c.scopes)))
    }

    /// Records the user's consent to the request's scopes, audited.
    pub async fn grant_consent(
        &self,
        user: UserId,
        req: &AuthorizeRequest,
        ctx: &RequestContext,
    ) -> Result<(), OAuthError> {
        let scopes: Vec<String> = req.scope.iter().map(str::to_owned).collect();
        self.consents.grant_consent(user, &req.client.id, &scopes, self.clock.now()).await?;
        let who = Some(user.to_string());
        let details = json!({ "client_id": req.client.id, "scopes": scopes });
        self.audit.record(AuditEventType::ConsentGranted, Outcome::Success, who.clone(), who, ctx, details).await?;
        Ok(())
    }

    pub async fn consents_of(&self, user: UserId) -> Result<Vec<super::code::Consent>, OAuthError> {
        Ok(self.consents.consents_for_user(user).await?)
    }

    /// Withdraws a consent and ends what it allowed: every grant (refresh and access tokens) the
    /// user gave that client. `false` when there was no consent.
    pub async fn revoke_consent(
        &self,
        user: UserId,
        client_id: &str,
        ctx: &RequestContext,
    ) -> Result<bool, OAuthError> {
        if !self.consents.revoke_consent(user, client_id).await? {
            return Ok(false);
        }
        let revoked =
            self.refresh.revoke_for_user_client(user, client_id, "consent_revoked", ctx).await.map_err(|e| {
                tracing::error!(error = %e, "revoking the grants of a withdrawn consent failed");
                OAuthError::server_error()
            })?;
        let who = Some(user.to_string());
        let details = json!({ "client_id": client_id, "grants_revoked": revoked });
        self.audit.record(AuditEventType::ConsentRevoked, Outcome::Success, who.clone(), who, ctx, details).await?;
        Ok(true)
    }

    /// Parks an authorization request (its query string) while the user signs in, and returns
    /// a short reference to it: the login page's return URL then stays short whatever the
    /// request's size. The reference only finds parameters the browser already carried, so it
    /// grants nothing; it is still random and stored hashed like every other reference.
    pub async fn park_authorization(&self, query: &str) -> Result<String, OAuthError> {
        let reference = random::token().map_err(|_| OAuthError::server_error())?;
        let hash = crate::token::RefreshToken::from_client(&reference).hash();
        self.codes.park_authorization(&hash, query, self.clock.now() + PARKED_LIFETIME).await?;
        Ok(reference)
    }

    /// The query string parked under `reference`, unless unknown or older than ten minutes.
    pub async fn parked_authorization(&self, reference: &str) -> Result<Option<String>, OAuthError> {
        let hash = crate::token::RefreshToken::from_client(reference).hash();
        Ok(self.codes.parked_authorization(&hash, self.clock.now()).await?)
    }

    /// Deletes parked and pushed (RFC 9126) requests once expired, and codes and device requests
    /// a day after they expired (until then a second use is still recognised as a replay).
    pub async fn purge(&self) -> Result<u64, OAuthError> {
        let now = self.clock.now();
        let parked =
            self.codes.purge_parked_authorizations(now).await? + self.codes.purge_pushed_authorizations(now).await?;
        let devices = self.devices.purge_device_authorizations(now - 86_400).await?;
        // Codes and device requests live at most a day past expiry; a grant older than that
        // which no refresh family holds is gone.
        let resources = self.resources.purge_grant_resources(now - 2 * 86_400).await?;
        Ok(parked + devices + resources + self.codes.purge_codes(now - 86_400).await?)
    }

    /// Issues a single-use authorization code for a consented request (RFC 6749 §4.1.2), in the
    /// browser session `session` (remembered for Back-Channel Logout 1.0 §2.3 when the client
    /// has a `backchannel_logout_uri`).
    pub async fn issue_code(
        &self,
        req: &AuthorizeRequest,
        user: UserId,
        session: Uuid,
        auth_time: UnixTime,
        amr: &str,
    ) -> Result<String, OAuthError> {
        let code = random::token().map_err(|_| OAuthError::server_error())?;
        let now = self.clock.now();
        let record = AuthorizationCode {
            code_hash: crate::token::RefreshToken::from_client(&code).hash(),
            client_id: req.client.id.clone(),
            user_id: user,
            redirect_uri: req.redirect_uri.clone(),
            scope: req.scope.to_string(),
            nonce: req.nonce.clone(),
            code_challenge: req.code_challenge.clone(),
            auth_time,
            created_at: now,
            expires_at: now + CODE_LIFETIME,
            grant_id: Uuid::now_v7(),
            amr: amr.to_owned(),
            dpop_jkt: req.dpop_jkt.clone(),
        };
        // RFC 8707 §2.1: the code remembers the resources it was requested for.
        self.remember_resources(record.grant_id, &req.resources).await?;
        // Before the code exists: a client told nothing could never hear of this session's end.
        if req.client.backchannel_logout_uri.is_some()
            && let Some(b) = self.accounts.backchannel()
        {
            b.remember(session, record.grant_id, &req.client.id, user).await?;
        }
        self.codes.insert_code(&record).await?;
        Ok(code)
    }
}

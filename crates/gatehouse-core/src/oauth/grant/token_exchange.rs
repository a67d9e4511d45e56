//! Token exchange (RFC 8693): a confidential client trades a Gatehouse access token (the
//! subject's) for a new one for an audience, as the subject (impersonation) or on its behalf
//! with an `act` claim naming the actor (delegation, §4.1), within the client's explicit rules
//! ([`crate::oauth::ExchangeRule`]). The new token is never wider than the subject token (§5):
//! scope = requested ∩ subject's ∩ rules'; lifetime ends no later than the subject token's; it
//! keeps the subject token's `sid`, so revoking the subject's grant ends it too. No refresh token.

use serde_json::{Value, json};

use super::{TokenResponse, param, required};
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::oauth::audience::invalid_target;
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::introspect::TokenClaims;
use crate::oauth::params::TokenRequest;
use crate::oauth::scope::Scope;
use crate::oauth::service::OAuthService;
use crate::token::{AccessTokenRequest, Holder, RbacClaims};
use crate::user::UserId;

/// RFC 8693 §2.1 `grant_type`.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 §3: the one token type exchanged and issued here.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// RFC 8693 §2.2.2: a subject or actor token that is "invalid for any reason, or [is]
/// unacceptable based on policy" MUST be answered with `invalid_request`.
fn refused(why: &str) -> OAuthError {
    OAuthError::invalid_request(why)
}

impl OAuthService {
    pub(super) async fn token_exchange_grant(
        &self,
        req: &TokenRequest,
        client: &Client,
        ctx: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        match self.exchange(req, client).await {
            Ok((response, details, sub)) => {
                self.record_exchange(AuditEventType::TokenExchanged, Outcome::Success, client, Some(sub), ctx, details)
                    .await;
                Ok(response)
            }
            Err(e) => {
                if e.code != ErrorCode::ServerError {
                    let details = json!({ "error": e.code.as_str(), "reason": e.description });
                    self.record_exchange(
                        AuditEventType::TokenExchangeRefused,
                        Outcome::Failure,
                        client,
                        None,
                        ctx,
                        details,
                    )
                    .await;
                }
                Err(e)
            }
        }
    }

    async fn record_exchange(
        &self,
        event: AuditEventType,
        outcome: Outcome,
        client: &Client,
        subject: Option<String>,
        ctx: &RequestContext,
        details: Value,
    ) {
        let actor = Some(format!("client:{}", client.id));
        if let Err(e) = self.audit.record(event, outcome, actor, subject, ctx, details).await {
            tracing::error!(error = %e, "recording a token exchange failed");
        }
    }

    /// The checks and the issuance; returns the answer, the audit details and the new `sub`.
    async fn exchange(
        &self,
        req: &TokenRequest,
        client: &Client,
    ) -> Result<(TokenResponse, Value, String), OAuthError> {
        // RFC 8693 §5 / RFC 6749 §2.1: only an authenticated (confidential) client exchanges.
        if client.is_public() {
            return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "a public client cannot exchange tokens"));
        }
        // §2.1: subject_token and subject_token_type are REQUIRED.
        let subject_token = required(&req.subject_token, "subject_token")?;
        let subject_type = required(&req.subject_token_type, "subject_token_type")?;
        let actor_token = param(&req.actor_token)?;
        let actor_type = param(&req.actor_token_type)?;
        // §2.1: actor_token_type is REQUIRED with actor_token and MUST NOT be sent without it.
        match (actor_token, actor_type) {
            (Some(_), None) => {
                return Err(OAuthError::invalid_request("actor_token_type is required with actor_token"));
            }
            (None, Some(_)) => return Err(OAuthError::invalid_request("actor_token_type requires actor_token")),
            _ => {}
        }
        for (name, value) in [("subject_token", Some(subject_token)), ("actor_token", actor_token)] {
            if value.is_some_and(|v| v.contains('\0')) {
                return Err(OAuthError::invalid_request(format!("{name} is malformed")));
            }
        }
        // §2.2.2: unsupported_token_type for a token type we cannot process.
        for t in [Some(subject_type), actor_type].into_iter().flatten() {
            if t != ACCESS_TOKEN_TYPE {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedTokenType,
                    "only urn:ietf:params:oauth:token-type:access_token tokens are exchanged",
                ));
            }
        }
        // §2.1 requested_token_type: only access tokens are issued (§2.2.2 invalid_request).
        if let Some(t) = param(&req.requested_token_type)?
            && t != ACCESS_TOKEN_TYPE
        {
            return Err(OAuthError::invalid_request(
                "requested_token_type: only urn:ietf:params:oauth:token-type:access_token is issued",
            ));
        }
        // §2.1 `resource` and `audience` name the target; Gatehouse issues one audience per
        // token, so both may be sent only when they agree. A registered resource server (RFC
        // 8707), named either way, decides the token's scopes, lifetime and algorithm.
        let named_resource = self.token_resource(&req.resource, None).await?;
        let audience_param = param(&req.audience)?;
        let resource = match (named_resource, audience_param) {
            (Some(r), Some(a)) if a != r.identifier => {
                return Err(invalid_target("resource and audience name different targets: send one"));
            }
            (Some(r), _) => Some(r),
            (None, Some(a)) => self.resources.resource_server_by_identifier(a).await?,
            (None, None) => None,
        };
        let audience = match (&resource, audience_param) {
            (Some(r), _) => r.identifier.clone(),
            (None, Some(a)) => a.to_owned(),
            (None, None) => self.issuer.settings().audience.clone(),
        };
        let subject = self.live_token(req.subject_claims.as_ref(), req.dpop_jkt.as_deref(), "subject_token").await?;
        let actor = match actor_token {
            Some(_) => Some(self.live_token(req.actor_claims.as_ref(), req.dpop_jkt.as_deref(), "actor_token").await?),
            None => None,
        };
        // Delegation: the actor token is the requesting client's own (its client credentials
        // token, or one of a user signed in to it): a client acts only as itself.
        if let Some(a) = actor
            && a.client_id != client.id
        {
            return Err(refused("the actor_token was not issued to the requesting client"));
        }
        // §2.2.2 invalid_target: an audience that is not a resource server, a client or ours.
        if resource.is_none() && !self.audience_is_known(&audience).await.map_err(OAuthError::from)? {
            return Err(invalid_target("the audience is not known to this server"));
        }
        let rules = self.exchange_rules.exchange_rules(&client.id).await.map_err(OAuthError::from)?;
        if rules.is_empty() {
            return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "the client has no token exchange rules"));
        }
        let delegation = actor.is_some();
        let matching: Vec<_> = rules.iter().filter(|r| r.admits(&subject.client_id, &audience, delegation)).collect();
        if matching.is_empty() {
            // Which part failed, without listing the rules.
            let any_subject = rules.iter().any(|r| r.admits(&subject.client_id, &audience, !delegation))
                || rules.iter().any(|r| {
                    r.subject_clients.iter().any(|c| c == crate::oauth::ANY_CLIENT || *c == subject.client_id)
                });
            if any_subject && !rules.iter().any(|r| r.audiences.contains(&audience)) {
                return Err(invalid_target("no exchange rule allows this audience"));
            }
            return Err(refused("no exchange rule allows this subject token in this mode for this audience"));
        }
        // §5 least privilege: never wider than the subject token nor the rules.
        let subject_scope = Scope::parse(subject.scope.as_deref().unwrap_or_default())
            .map_err(|_| refused("the subject token's scope is malformed"))?;
        let allowed: Vec<String> = subject_scope
            .iter()
            .filter(|s| matching.iter().any(|r| r.scopes.iter().any(|x| x == s)))
            .map(str::to_owned)
            .collect();
        let scope = match param(&req.scope)? {
            Some(requested) => {
                let requested =
                    Scope::parse(requested).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
                if !requested.is_subset_of(&allowed) {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        "the scope may not be wider than the subject token's and the exchange rules'",
                    ));
                }
                requested
            }
            None => Scope::from_vec(allowed),
        };
        let scope = match &resource {
            Some(r) => r.narrow(&scope),
            None => scope,
        };
        let holder_user = (subject.sub != subject.client_id).then(|| UserId::parse(&subject.sub)).flatten();
        if let Some(user) = holder_user
            && self.accounts.active_user(user).await?.is_none()
        {
            return Err(refused("the subject is no longer active"));
        }
        let rbac = match holder_user {
            Some(user) => self.rbac_claims(Holder::User(user), &scope).await?,
            None if scope.contains("roles") || scope.contains("permissions") => {
                self.rbac_claims(Holder::Client(&subject.sub), &scope).await?
            }
            None => RbacClaims::default(),
        };
        // §4.1: the actor in `act`; an earlier actor of the subject token nests inside it.
        // Impersonation keeps the subject token's `act` as it is: a chain is never hidden.
        let act = match actor {
            Some(a) => {
                let mut act = json!({ "sub": a.sub, "client_id": a.client_id });
                if let Some(prior) = &subject.act {
                    act["act"] = prior.clone();
                }
                Some(act)
            }
            None => subject.act.clone(),
        };
        let now = self.clock.now();
        let default = resource
            .as_ref()
            .and_then(|r| r.access_token_lifetime)
            .or(client.access_token_lifetime)
            .unwrap_or(self.issuer.settings().lifetime);
        let lifetime = default.min(subject.exp - now);
        if lifetime <= 0 {
            return Err(refused("the subject_token has expired"));
        }
        let scope_text = scope.to_string();
        let request = AccessTokenRequest {
            subject: subject.sub.clone(),
            client_id: client.id.clone(),
            scope: (!scope_text.is_empty()).then(|| scope_text.clone()),
            sid: subject.sid.clone(),
            auth_time: subject.auth_time,
            audience: Some(audience.clone()),
            lifetime: Some(lifetime),
            rbac,
            amr: subject.amr.clone(),
            acr: subject.acr.clone(),
            dpop_jkt: req.dpop_jkt.clone(),
            act: act.clone(),
            algorithm: resource.as_ref().map(|r| r.signing_alg),
        };
        let issued = self.issuer.issue(&request).map_err(|e| {
            tracing::error!(error = %e, "access token signing failed");
            OAuthError::server_error()
        })?;
        let details = json!({
            "subject_client": subject.client_id,
            "audience": audience,
            "scope": scope_text,
            "mode": if delegation { "delegation" } else { "impersonation" },
            "act": act,
            "jti": issued.jti,
        });
        let response = TokenResponse {
            access_token: issued.token,
            // RFC 8693 §2.2.1: token_type as in RFC 6749 §7.1; DPoP for a bound token.
            token_type: if req.dpop_jkt.is_some() { "DPoP" } else { "Bearer" },
            expires_in: issued.expires_in,
            scope: (!scope_text.is_empty()).then_some(scope_text),
            refresh_token: None,
            id_token: None,
            issued_token_type: Some(ACCESS_TOKEN_TYPE),
        };
        Ok((response, details, subject.sub.clone()))
    }

    /// A presented token that the edge verified (signature, issuer, our audience), that has not
    /// expired by our clock and still stands (`access_token_is_live`); a DPoP-bound one only
    /// with a proof by its key.
    async fn live_token<'a>(
        &self,
        claims: Option<&'a TokenClaims>,
        proof_jkt: Option<&str>,
        name: &str,
    ) -> Result<&'a TokenClaims, OAuthError> {
        let gone = || refused(&format!("the {name} is invalid, expired or revoked"));
        let c = claims.ok_or_else(gone)?;
        if c.exp <= self.clock.now() {
            return Err(gone());
        }
        if c.dpop_jkt.is_some() && c.dpop_jkt.as_deref() != proof_jkt {
            return Err(refused(&format!("the {name} is DPoP-bound: send a proof by its key")));
        }
        let live = self.refresh.access_token_is_live(&c.client_id, c.sid.as_deref(), &c.jti).await.map_err(|e| {
            tracing::error!(error = %e, "revocation check failed");
            OAuthError::server_error()
        })?;
        if !live {
            return Err(gone());
        }
        Ok(c)
    }
}

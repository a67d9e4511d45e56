//! Changing a registered client: a partial update checked by the registration's own rules
//! ([`ClientRegistration`]), and replacing a `private_key_jwt` client's keys.

use super::client::{AuthMethod, Client, ClientRegistration, ClientSecret, RegistrationError};
use super::client_jwks::ClientJwks;

/// A partial change of a client's settings (`PATCH /admin/v1/clients/{id}`): `None` keeps a
/// field. The result is checked by the same rules as a registration.
#[derive(Debug, Clone, Default)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub cors_origins: Option<Vec<String>>,
    pub skip_consent: Option<bool>,
    /// `none` makes the client public; `private_key_jwt` needs `jwks` (unless it already is one).
    pub auth_method: Option<String>,
    /// `Some(None)` returns to the server default.
    pub access_token_lifetime: Option<Option<i64>>,
    pub require_mfa: Option<bool>,
    pub require_pushed_authorization_requests: Option<bool>,
    /// Back-Channel Logout 1.0 §2.2; `Some(None)` removes the endpoint.
    pub backchannel_logout_uri: Option<Option<String>>,
    pub backchannel_logout_session_required: Option<bool>,
    /// RFC 9449 §5.2.
    pub dpop_bound_access_tokens: Option<bool>,
    /// Only when switching to `private_key_jwt` (replacing keys: [`Client::replace_jwks`]).
    pub jwks: Option<serde_json::Value>,
    /// The revision the change was made from (a form that shows every setting): refused when
    /// the client changed since, rather than putting back what another admin changed.
    pub expected_revision: Option<i64>,
}

impl ClientUpdate {
    /// The client with this change applied, checked as a registration would be. Switching to
    /// `client_secret_*` from a method without a secret issues one (returned, shown once);
    /// switching to `none` or `private_key_jwt` drops the secrets, and away from
    /// `private_key_jwt` the keys.
    pub fn apply(self, client: &Client) -> Result<(Client, Option<ClientSecret>), RegistrationError> {
        let auth_method = self.auth_method.unwrap_or_else(|| client.auth_method.as_str().to_owned());
        let jwks = match (self.jwks, auth_method.as_str()) {
            (Some(j), _) => Some(j),
            (None, "private_key_jwt") => client.jwks.as_ref().map(|j| j.as_json().clone()),
            (None, _) => None,
        };
        let registration = ClientRegistration {
            name: self.name.unwrap_or_else(|| client.name.clone()),
            public: auth_method == "none",
            redirect_uris: self.redirect_uris.unwrap_or_else(|| client.redirect_uris.clone()),
            post_logout_redirect_uris: self
                .post_logout_redirect_uris
                .unwrap_or_else(|| client.post_logout_redirect_uris.clone()),
            grant_types: self
                .grant_types
                .unwrap_or_else(|| client.grant_types.iter().map(|g| g.as_str().to_owned()).collect()),
            scopes: self.scopes.unwrap_or_else(|| client.scopes.clone()),
            cors_origins: self.cors_origins.unwrap_or_else(|| client.cors_origins.clone()),
            skip_consent: self.skip_consent.unwrap_or(client.skip_consent),
            auth_method: Some(auth_method),
            access_token_lifetime: self.access_token_lifetime.unwrap_or(client.access_token_lifetime),
            jwks,
            require_mfa: self.require_mfa.unwrap_or(client.require_mfa),
            require_pushed_authorization_requests: self
                .require_pushed_authorization_requests
                .unwrap_or(client.require_pushed_authorization_requests),
            backchannel_logout_uri: self
                .backchannel_logout_uri
                .unwrap_or_else(|| client.backchannel_logout_uri.clone()),
            backchannel_logout_session_required: self
                .backchannel_logout_session_required
                .unwrap_or(client.backchannel_logout_session_required),
            dpop_bound_access_tokens: self.dpop_bound_access_tokens.unwrap_or(client.dpop_bound_access_tokens),
        };
        if registration.grant_types.is_empty() {
            return Err(RegistrationError::Invalid("a client needs at least one grant type"));
        }
        let checked = registration.check()?;
        let mut updated = checked.into_client(client.id.clone(), client.created_at);
        updated.lifecycle = client.lifecycle.clone();
        let mut secret = None;
        if updated.uses_secret() {
            if client.uses_secret() {
                updated.secret_hash.clone_from(&client.secret_hash);
            } else {
                let new = ClientSecret::generate().map_err(|_| RegistrationError::Invalid("randomness failed"))?;
                updated.secret_hash = Some(new.hash());
                updated.lifecycle.secret_rotated_at = None;
                secret = Some(new);
            }
        } else {
            updated.lifecycle.previous_secret_hash = None;
            updated.lifecycle.previous_secret_expires_at = None;
            updated.lifecycle.secret_rotated_at = None;
        }
        Ok((updated, secret))
    }
}

impl Client {
    /// Replaces a `private_key_jwt` client's JWK Set, checked as at registration.
    pub fn replace_jwks(&mut self, jwks: serde_json::Value) -> Result<(), RegistrationError> {
        if self.auth_method != AuthMethod::PrivateKeyJwt {
            return Err(RegistrationError::Invalid("only private_key_jwt clients have a JWK Set"));
        }
        self.jwks = Some(ClientJwks::parse(jwks).map_err(RegistrationError::Jwks)?);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::oauth::{DEFAULT_SECRET_OVERLAP, MAX_SECRET_OVERLAP};

    fn confidential() -> (Client, ClientSecret) {
        let reg = ClientRegistration {
            name: "App".into(),
            redirect_uris: vec!["https://app.example.com/cb".into()],
            grant_types: vec!["authorization_code".into(), "client_credentials".into()],
            ..ClientRegistration::default()
        };
        let (c, s) = reg.validate("id".into(), 10).unwrap();
        (c, s.unwrap())
    }

    #[test]
    fn absent_fields_stay_and_the_rules_are_the_registrations() {
        let (client, _) = confidential();
        let (same, secret) = ClientUpdate::default().apply(&client).unwrap();
        assert_eq!((same, secret.is_none()), (client.clone(), true));
        let change = ClientUpdate { name: Some("New".into()), ..ClientUpdate::default() };
        let (renamed, _) = change.apply(&client).unwrap();
        assert_eq!((renamed.name.as_str(), &renamed.redirect_uris), ("New", &client.redirect_uris));
        assert_eq!((renamed.created_at, &renamed.secret_hash), (10, &client.secret_hash), "kept");
        for bad in [
            ClientUpdate { redirect_uris: Some(vec!["http://evil.test/cb".into()]), ..ClientUpdate::default() },
            ClientUpdate { redirect_uris: Some(vec![]), ..ClientUpdate::default() },
            ClientUpdate { grant_types: Some(vec![]), ..ClientUpdate::default() },
            ClientUpdate { auth_method: Some("none".into()), ..ClientUpdate::default() },
            ClientUpdate { auth_method: Some("private_key_jwt".into()), ..ClientUpdate::default() },
            ClientUpdate { access_token_lifetime: Some(Some(1)), ..ClientUpdate::default() },
        ] {
            assert!(bad.clone().apply(&client).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn switching_authentication_keeps_or_issues_secrets_coherently() {
        let (mut client, _) = confidential();
        client.rotate_secret(60, 20).unwrap();
        let post = ClientUpdate { auth_method: Some("client_secret_post".into()), ..ClientUpdate::default() };
        let (c, secret) = post.apply(&client).unwrap();
        assert!(secret.is_none() && c.secret_hash == client.secret_hash && c.lifecycle == client.lifecycle);
        let public = ClientUpdate {
            auth_method: Some("none".into()),
            grant_types: Some(vec!["authorization_code".into()]),
            ..ClientUpdate::default()
        };
        let (spa, _) = public.apply(&client).unwrap();
        assert!(spa.is_public() && spa.secret_hash.is_none() && spa.lifecycle.previous_secret_hash.is_none());
        let back = ClientUpdate { auth_method: Some("client_secret_basic".into()), ..ClientUpdate::default() };
        let (c, secret) = back.apply(&spa).unwrap();
        let secret = secret.expect("a new secret for a client that had none");
        assert!(c.secret_matches(secret.expose(), 20) && c.auth_method == AuthMethod::ClientSecretBasic);
    }

    #[test]
    fn rotation_overlaps_then_the_old_secret_dies() {
        let (mut client, first) = confidential();
        let second = client.rotate_secret(DEFAULT_SECRET_OVERLAP, 100).unwrap();
        let until = 100 + DEFAULT_SECRET_OVERLAP;
        assert_eq!(client.lifecycle.previous_secret_expires_at, Some(until));
        assert!(client.secret_matches(first.expose(), until - 1) && client.secret_matches(second.expose(), until - 1));
        assert!(!client.secret_matches(first.expose(), until) && client.secret_matches(second.expose(), until));
        // Rotating again: only the one before is kept; overlap 0 keeps none.
        let third = client.rotate_secret(60, 200).unwrap();
        assert!(!client.secret_matches(first.expose(), 201) && client.secret_matches(second.expose(), 201));
        client.rotate_secret(0, 300).unwrap();
        assert!(!client.secret_matches(third.expose(), 300) && client.lifecycle.previous_secret_hash.is_none());
        assert!(client.rotate_secret(MAX_SECRET_OVERLAP + 1, 0).is_err() && client.rotate_secret(-1, 0).is_err());
        let (spa, _) = ClientUpdate {
            auth_method: Some("none".into()),
            grant_types: Some(vec!["authorization_code".into()]),
            ..ClientUpdate::default()
        }
        .apply(&client)
        .unwrap();
        assert!(spa.clone().rotate_secret(60, 0).is_err(), "no secret to rotate");
    }
}

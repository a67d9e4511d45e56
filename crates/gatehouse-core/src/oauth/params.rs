//! The one parser of OAuth request parameters (RFC 6749 §3.1 and §3.2: parameters "MUST NOT be
//! included more than once", and one "sent without a value MUST be treated as if it were
//! omitted"), and the typed requests it fills: [`AuthorizeParams`] (RFC 6749 §4.1.1, OpenID
//! Connect Core §3.1.2.1), [`TokenRequest`] (RFC 6749 §4.1.3, §4.4.2, §6; RFC 7009 §2.1; RFC
//! 7662 §2.1) and [`ClientParams`] (RFC 6749 §2.3.1, RFC 7523 §2.2).
//!
//! The form or query string is read once, in one pass, into the typed request: each parameter
//! is absent, present once, or repeated. A repeat is refused where the parameter is read, so
//! that the order of checks (and so which error a request gets) is the protocol's.

/// One parameter as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Param {
    #[default]
    Absent,
    One(String),
    /// Included more than once, every value in order: the first serves our own forms
    /// ([`Param::first`]), all of them a parameter that may repeat ([`Param::all`], RFC 8707
    /// `resource`).
    Repeated(Vec<String>),
}

/// A parameter was included more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated;

impl Param {
    fn add(&mut self, value: String) {
        *self = match std::mem::take(self) {
            Self::Absent => Self::One(value),
            Self::One(first) => Self::Repeated(vec![first, value]),
            Self::Repeated(mut all) => {
                all.push(value);
                Self::Repeated(all)
            }
        };
    }

    /// The value; a repeat is refused and an empty value counts as omitted (RFC 6749 §3.1).
    pub fn get(&self) -> Result<Option<&str>, Repeated> {
        Ok(self.get_raw()?.filter(|v| !v.is_empty()))
    }

    /// The value as sent, empty included; a repeat is refused.
    pub fn get_raw(&self) -> Result<Option<&str>, Repeated> {
        match self {
            Self::Absent => Ok(None),
            Self::One(v) => Ok(Some(v)),
            Self::Repeated(_) => Err(Repeated),
        }
    }

    /// The first value, empty counting as omitted: for the fields of our own forms (consent,
    /// logout confirmation), where a repeat is not a protocol error.
    pub fn first(&self) -> Option<&str> {
        match self {
            Self::Absent => None,
            Self::One(v) => Some(v.as_str()).filter(|v| !v.is_empty()),
            Self::Repeated(all) => all.first().map(String::as_str).filter(|v| !v.is_empty()),
        }
    }

    /// Every value, in order, for a parameter that may be included more than once (RFC 8707
    /// §2 `resource`); empty values count as omitted (RFC 6749 §3.1).
    pub fn all(&self) -> Vec<&str> {
        match self {
            Self::Absent => Vec::new(),
            Self::One(v) => vec![v.as_str()],
            Self::Repeated(all) => all.iter().map(String::as_str).collect(),
        }
        .into_iter()
        .filter(|v| !v.is_empty())
        .collect()
    }
}

/// A request read from parameters in one pass; names it does not read are ignored.
pub trait FromParams: Default {
    /// Where the parameter `name` goes, or `None` for a parameter this request does not read.
    fn slot(&mut self, name: &str) -> Option<&mut Param>;

    /// Reads every `(name, value)` pair, in order.
    fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let mut request = Self::default();
        for (name, value) in pairs {
            if let Some(slot) = request.slot(&name) {
                slot.add(value);
            }
        }
        request
    }
}

/// The parameters of an authorization request, as received (validated by
/// `OAuthService::parse_authorize` into an `AuthorizeRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeParams {
    pub client_id: Param,
    pub redirect_uri: Param,
    pub state: Param,
    pub response_type: Param,
    pub response_mode: Param,
    pub scope: Param,
    pub code_challenge: Param,
    pub code_challenge_method: Param,
    pub prompt: Param,
    pub max_age: Param,
    pub nonce: Param,
    pub login_hint: Param,
    pub ui_locales: Param,
    /// OpenID Connect Core §3.1.2.1 `acr_values`.
    pub acr_values: Param,
    /// Request objects (OpenID Connect Core §6), refused.
    pub request: Param,
    pub request_uri: Param,
    /// RFC 8707 §2 `resource`: may be included more than once ([`Param::all`]).
    pub resource: Param,
    /// RFC 9449 §10: the JWK SHA-256 thumbprint of the key the code is bound to.
    pub dpop_jkt: Param,
}

impl FromParams for AuthorizeParams {
    fn slot(&mut self, name: &str) -> Option<&mut Param> {
        Some(match name {
            "client_id" => &mut self.client_id,
            "redirect_uri" => &mut self.redirect_uri,
            "state" => &mut self.state,
            "response_type" => &mut self.response_type,
            "response_mode" => &mut self.response_mode,
            "scope" => &mut self.scope,
            "code_challenge" => &mut self.code_challenge,
            "code_challenge_method" => &mut self.code_challenge_method,
            "prompt" => &mut self.prompt,
            "max_age" => &mut self.max_age,
            "nonce" => &mut self.nonce,
            "login_hint" => &mut self.login_hint,
            "ui_locales" => &mut self.ui_locales,
            "acr_values" => &mut self.acr_values,
            "request" => &mut self.request,
            "request_uri" => &mut self.request_uri,
            "resource" => &mut self.resource,
            "dpop_jkt" => &mut self.dpop_jkt,
            _ => return None,
        })
    }
}

/// How a client authenticates in the request body (RFC 6749 §2.3.1 `client_secret_post`, RFC
/// 7523 §2.2 `private_key_jwt`), or names itself (public clients).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientParams {
    pub client_id: Param,
    pub client_secret: Param,
    pub client_assertion_type: Param,
    pub client_assertion: Param,
}

impl ClientParams {
    fn slot(&mut self, name: &str) -> Option<&mut Param> {
        Some(match name {
            "client_id" => &mut self.client_id,
            "client_secret" => &mut self.client_secret,
            "client_assertion_type" => &mut self.client_assertion_type,
            "client_assertion" => &mut self.client_assertion,
            _ => return None,
        })
    }
}

/// A request to the token, revocation or introspection endpoint: the client's parameters and
/// those of the grant or of the token to revoke or introspect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRequest {
    pub client: ClientParams,
    pub grant_type: Param,
    pub code: Param,
    pub redirect_uri: Param,
    pub code_verifier: Param,
    pub refresh_token: Param,
    pub scope: Param,
    /// RFC 7009 §2.1, RFC 7662 §2.1.
    pub token: Param,
    /// RFC 8628 §3.4.
    pub device_code: Param,
    /// RFC 8707 §2 `resource`: the audience of the access token asked for.
    pub resource: Param,
    /// RFC 8693 §2.1 token exchange parameters.
    pub subject_token: Param,
    pub subject_token_type: Param,
    pub actor_token: Param,
    pub actor_token_type: Param,
    pub requested_token_type: Param,
    pub audience: Param,
    /// RFC 8693 §2.1: the verified claims of `subject_token` / `actor_token` when they are
    /// Gatehouse access tokens with a valid signature. Set by the edge, never from the form.
    pub subject_claims: Option<super::TokenClaims>,
    pub actor_claims: Option<super::TokenClaims>,
    /// RFC 9449 §5: the thumbprint of the key of the request's verified DPoP proof. Set by the
    /// edge after checking the `DPoP` header, never from the form.
    pub dpop_jkt: Option<String>,
}

impl FromParams for TokenRequest {
    fn slot(&mut self, name: &str) -> Option<&mut Param> {
        Some(match name {
            "grant_type" => &mut self.grant_type,
            "code" => &mut self.code,
            "redirect_uri" => &mut self.redirect_uri,
            "code_verifier" => &mut self.code_verifier,
            "refresh_token" => &mut self.refresh_token,
            "scope" => &mut self.scope,
            "token" => &mut self.token,
            "device_code" => &mut self.device_code,
            "resource" => &mut self.resource,
            "subject_token" => &mut self.subject_token,
            "subject_token_type" => &mut self.subject_token_type,
            "actor_token" => &mut self.actor_token,
            "actor_token_type" => &mut self.actor_token_type,
            "requested_token_type" => &mut self.requested_token_type,
            "audience" => &mut self.audience,
            _ => return self.client.slot(name),
        })
    }
}

/// Declares a request whose every field is a [`Param`] named like the parameter.
macro_rules! params {
    ($(#[$doc:meta])* $name:ident { $($field:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $(pub $field: Param,)+
        }

        impl FromParams for $name {
            fn slot(&mut self, name: &str) -> Option<&mut Param> {
                match name {
                    $(stringify!($field) => Some(&mut self.$field),)+
                    _ => None,
                }
            }
        }
    };
}

params! {
    /// An RP-initiated logout request (OpenID Connect RP-Initiated Logout 1.0 §2), with the
    /// fields of our confirmation form (`confirm`, `csrf_token`).
    LogoutParams { id_token_hint, client_id, post_logout_redirect_uri, state, confirm, csrf_token }
}

params! {
    /// The answer of the consent form: the user's decision and the form's CSRF token (the
    /// authorization request itself travels in hidden fields, read as [`AuthorizeParams`]).
    ConsentParams { decision, csrf_token }
}

params! {
    /// An upstream provider's authorization response at our redirection endpoint, Gatehouse
    /// being the client (RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207 §2 `iss`).
    CallbackParams { state, code, iss, error, error_description }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_repeated_parameter_is_refused_where_it_is_read() {
        let req = TokenRequest::from_pairs(pairs(&[
            ("grant_type", "authorization_code"),
            ("code", "a"),
            ("code", "b"),
            ("client_id", "c1"),
            ("client_id", "c1"),
        ]));
        assert_eq!(req.grant_type.get(), Ok(Some("authorization_code")));
        assert_eq!(req.code.get(), Err(Repeated));
        assert_eq!(req.client.client_id.get_raw(), Err(Repeated), "even with the same value twice");
        assert_eq!(req.code.first(), Some("a"));
    }

    #[test]
    fn rfc8707_s2_resource_may_repeat_and_all_values_are_kept_in_order() {
        let req = AuthorizeParams::from_pairs(pairs(&[
            ("resource", "https://a.example/"),
            ("resource", ""),
            ("resource", "https://b.example/"),
        ]));
        assert_eq!(req.resource.all(), vec!["https://a.example/", "https://b.example/"]);
        assert_eq!(req.resource.get(), Err(Repeated), "a single-valued read still refuses the repeat");
        assert_eq!(req.resource.first(), Some("https://a.example/"));
        assert!(AuthorizeParams::default().resource.all().is_empty());
    }

    #[test]
    fn an_empty_parameter_counts_as_omitted_unless_read_raw() {
        let req = TokenRequest::from_pairs(pairs(&[("scope", ""), ("client_secret", "")]));
        assert_eq!(req.scope.get(), Ok(None));
        assert_eq!(req.client.client_secret.get_raw(), Ok(Some("")));
        assert_eq!(req.refresh_token.get(), Ok(None), "absent");
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        let req = AuthorizeParams::from_pairs(pairs(&[("client_id", "c"), ("foo", "1"), ("foo", "2")]));
        assert_eq!(req.client_id.get(), Ok(Some("c")));
        assert_eq!(req, AuthorizeParams { client_id: Param::One("c".into()), ..Default::default() });
    }
}

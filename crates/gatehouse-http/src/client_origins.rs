//! The registered CORS origins of public OAuth clients, as a source for the OAuth endpoints'
//! CORS allow-list (issue: SPAs call the token, userinfo and revocation endpoints directly).

use std::sync::Arc;

use gatehouse_core::oauth::OAuthService;

use crate::cors::OriginSource;

pub struct ClientOrigins(pub Arc<OAuthService>);

#[async_trait::async_trait]
impl OriginSource for ClientOrigins {
    async fn allows(&self, origin: &str) -> bool {
        self.0.origin_registered(origin).await
    }
}

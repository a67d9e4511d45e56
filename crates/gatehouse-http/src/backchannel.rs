//! The HTTP half of OpenID Connect Back-Channel Logout 1.0 §2.5: POST the logout token to a
//! client's `backchannel_logout_uri` as `application/x-www-form-urlencoded`. Redirects are
//! never followed (§2.8 success is 200 or 204 from the registered URL itself, and following
//! them would let a client aim Gatehouse elsewhere), every request has a short timeout, and at
//! most a few KiB of the answer is read.

use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::oauth::backchannel::LogoutSender;

/// The most of a client's answer that is read (and then dropped): the status is what counts.
const MAX_ANSWER: usize = 4096;

pub struct HttpLogoutSender(reqwest::Client);

impl HttpLogoutSender {
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Logout tokens go straight to the client, never through a proxy from the environment.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self(client))
    }
}

#[async_trait]
impl LogoutSender for HttpLogoutSender {
    async fn post(&self, uri: &str, logout_token: &str) -> Result<u16, String> {
        let mut resp = self.0.post(uri).form(&[("logout_token", logout_token)]).send().await.map_err(|e| {
            if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                "cannot connect".to_owned()
            } else {
                "request failed".to_owned()
            }
        })?;
        let status = resp.status().as_u16();
        // Drain a little, so that a kept-alive connection can be reused; never more.
        let mut read = 0;
        while read < MAX_ANSWER {
            match resp.chunk().await {
                Ok(Some(c)) => read += c.len(),
                _ => break,
            }
        }
        Ok(status)
    }
}

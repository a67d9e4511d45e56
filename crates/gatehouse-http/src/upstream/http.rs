//! openidconnect's HTTP client: reqwest 0.13 (the crate's own `reqwest` feature would bring
//! reqwest 0.12 and ring). Redirects are never followed — none is expected from discovery,
//! JWKS, token or API endpoints, and following them would invite SSRF — and every call has a
//! timeout and a response size cap, so a slow or hostile upstream cannot hold a request.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpClientError, HttpRequest, HttpResponse};

/// Upstream answers larger than this are refused (discovery documents and JWKS are a few KiB).
const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Http(pub reqwest::Client);

impl Http {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self(client))
    }

    /// GET a JSON document (discovery, JWKS, GitHub API) with an optional bearer token.
    pub async fn get_json(&self, url: &str, bearer: Option<&str>) -> Result<serde_json::Value, String> {
        let mut req = self.0.get(url).header("accept", "application/json");
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| format!("GET {url}: {}", without_url(&e)))?;
        let status = resp.status();
        let body = read_capped(resp).await?;
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        serde_json::from_slice(&body).map_err(|_| format!("GET {url}: not JSON"))
    }
}

/// reqwest's messages repeat the URL (with its query); ours name it once, without secrets.
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        "request failed".into()
    }
}

/// The body, refused beyond [`MAX_BODY`] (an upstream cannot make us buffer without bound).
pub(super) async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| without_url(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err("upstream response too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let request = self.0.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body);
            let response = request.send().await.map_err(Box::new)?;
            let mut builder = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = read_capped(response).await.map_err(HttpClientError::Other)?;
            Ok(builder.body(body)?)
        })
    }
}

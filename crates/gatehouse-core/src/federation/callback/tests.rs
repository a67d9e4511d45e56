//! The order of a callback's checks, with a fake upstream that records what it was asked:
//! RFC 9207 §2.4 (`iss` before an error response), RFC 9700 §4.4 (a mix-up never redeems the
//! code), RFC 6749 §10.12 / RFC 9700 §4.7 (a bad `state` never reaches the upstream).

use std::sync::Mutex;

use super::*;
use crate::audit::{AuditEvent, AuditQuery, AuditRecord};
use crate::clock::ManualClock;
use crate::federation::flow::LOGIN_STATE_LIFETIME;
use crate::federation::provider::ProviderInput;
use crate::federation::{FederatedIdentity, UnlinkOutcome};
use crate::oauth::FromParams;
use crate::store::{AuditStore, StoreError};

const ISSUER: &str = "https://op.example";
const NOW: UnixTime = 1_700_000_000;

#[derive(Default)]
struct States(Mutex<Vec<LoginState>>);

#[async_trait]
impl FederationStore for States {
    async fn insert_login_state(&self, state: &LoginState) -> Result<(), StoreError> {
        self.0.lock().unwrap().push(state.clone());
        Ok(())
    }
    async fn take_login_state(&self, hash: &[u8]) -> Result<Option<LoginState>, StoreError> {
        let mut states = self.0.lock().unwrap();
        Ok(states.iter().position(|s| s.state_hash == hash).map(|i| states.remove(i)))
    }
    async fn purge_login_states(&self, _: UnixTime) -> Result<u64, StoreError> {
        unreachable!()
    }
    async fn identity(&self, _: &str, _: &str) -> Result<Option<FederatedIdentity>, StoreError> {
        unreachable!()
    }
    async fn identities_for_user(&self, _: UserId) -> Result<Vec<FederatedIdentity>, StoreError> {
        unreachable!()
    }
    async fn link_identity(&self, _: &FederatedIdentity) -> Result<(), StoreError> {
        unreachable!()
    }
    async fn create_user_with_identity(&self, _: &crate::user::User, _: &FederatedIdentity) -> Result<(), StoreError> {
        unreachable!()
    }
    async fn touch_identity(&self, _: &str, _: &str, _: Option<&str>, _: UnixTime) -> Result<(), StoreError> {
        unreachable!()
    }
    async fn unlink_identity(&self, _: UserId, _: &str) -> Result<UnlinkOutcome, StoreError> {
        unreachable!()
    }
}

#[derive(Default)]
struct Audit(Mutex<Vec<AuditEvent>>);

#[async_trait]
impl AuditStore for Audit {
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
    async fn recent_audit_events(&self, _: u32) -> Result<Vec<AuditEvent>, StoreError> {
        unreachable!()
    }
    async fn query_audit_events(&self, _: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        unreachable!()
    }
}

/// An upstream that records every question; `redeem` answers `answer`.
struct Fake {
    config: ProviderConfig,
    iss_required: bool,
    answer: fn() -> Result<UpstreamIdentity, UpstreamError>,
    calls: Mutex<Vec<&'static str>>,
}

#[async_trait]
impl UpstreamExchange for Fake {
    fn provider(&self) -> &ProviderConfig {
        &self.config
    }
    async fn iss_parameter_required(&self) -> Result<bool, UpstreamError> {
        self.calls.lock().unwrap().push("iss_parameter_required");
        Ok(self.iss_required)
    }
    async fn redeem(
        &self,
        code: &str,
        _: &FlowSecrets,
        _: &LoginState,
        _: UnixTime,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        assert_eq!(code, "the-code");
        self.calls.lock().unwrap().push("redeem");
        (self.answer)()
    }
}

fn identity() -> Result<UpstreamIdentity, UpstreamError> {
    Ok(UpstreamIdentity {
        provider: "op".into(),
        subject: "sub-1".into(),
        email: None,
        email_verified: false,
        name: None,
        auth_time: None,
    })
}

struct Setup {
    gate: CallbackGate,
    audit: Arc<Audit>,
    clock: Arc<ManualClock>,
    upstream: Fake,
    binding: BrowserBinding,
}

impl Setup {
    /// A provider that advertises RFC 9207 (or not), and one live login with `state = "s1"`.
    async fn new(iss_required: bool) -> Self {
        let clock = ManualClock::new(NOW);
        let states = Arc::new(States::default());
        let audit = Arc::new(Audit::default());
        let gate = CallbackGate::new(states.clone(), Auditor::new(audit.clone(), clock.clone()), clock.clone());
        let input = ProviderInput {
            id: "op".into(),
            kind: "oidc".into(),
            issuer: Some(ISSUER.into()),
            client_id: "cid".into(),
            ..ProviderInput::default()
        };
        let config = ProviderConfig::build(input).unwrap();
        let upstream = Fake { config, iss_required, answer: identity, calls: Mutex::default() };
        let binding = BrowserBinding::from_cookie("browser-1");
        let login = LoginState {
            state_hash: state_hash("s1"),
            binding_hash: binding.hash(),
            provider: "op".into(),
            return_to: None,
            link_user: None,
            force_login: false,
            pending: None,
            created_at: NOW,
            expires_at: NOW + LOGIN_STATE_LIFETIME,
        };
        states.insert_login_state(&login).await.unwrap();
        Self { gate, audit, clock, upstream, binding }
    }

    async fn run_as(&self, binding: Option<&BrowserBinding>, query: &[(&str, &str)]) -> Step {
        let params = CallbackParams::from_pairs(query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self.gate.verify(&params, binding, &self.upstream, &RequestContext::cli()).await.unwrap()
    }

    async fn run(&self, query: &[(&str, &str)]) -> Step {
        self.run_as(Some(&self.binding), query).await
    }

    fn calls(&self) -> Vec<&'static str> {
        self.upstream.calls.lock().unwrap().clone()
    }

    /// The `reason` of every `federation.login_failed` event, in order.
    fn reasons(&self) -> Vec<String> {
        let events = self.audit.0.lock().unwrap();
        events.iter().map(|e| e.details["reason"].as_str().unwrap_or_default().to_owned()).collect()
    }
}

#[tokio::test]
async fn a_bad_state_never_reaches_the_exchange() {
    let good = [("code", "the-code"), ("iss", ISSUER)];
    let other = BrowserBinding::from_cookie("browser-2");
    for (binding, state) in [(true, None), (true, Some("unknown")), (false, Some("s1")), (true, Some(""))] {
        let s = Setup::new(false).await;
        let mut query = good.to_vec();
        query.extend(state.map(|v| ("state", v)));
        let step = s.run_as(if binding { Some(&s.binding) } else { Some(&other) }, &query).await;
        assert!(matches!(step, Step::Stop(CallbackOutcome::InvalidState)), "{state:?}: {step:?}");
        assert!(s.calls().is_empty(), "{state:?}");
        assert_eq!(s.reasons(), ["invalid_state"]);
    }
    // No binding cookie, an expired login, a repeated `state`: the same.
    let s = Setup::new(false).await;
    let step = s.run_as(None, &[("state", "s1"), ("code", "the-code"), ("iss", ISSUER)]).await;
    assert!(matches!(step, Step::Stop(CallbackOutcome::InvalidState)));
    let s = Setup::new(false).await;
    s.clock.advance(LOGIN_STATE_LIFETIME);
    assert!(matches!(s.run(&[("state", "s1"), ("code", "the-code")]).await, Step::Stop(CallbackOutcome::InvalidState)));
    let s = Setup::new(false).await;
    let step = s.run(&[("state", "s1"), ("state", "s1"), ("code", "the-code")]).await;
    assert!(matches!(step, Step::Stop(CallbackOutcome::InvalidState)));
    assert!(s.calls().is_empty());
}

#[tokio::test]
async fn a_state_is_used_once_whatever_happened() {
    let s = Setup::new(false).await;
    let step = s.run(&[("state", "s1"), ("error", "access_denied"), ("iss", ISSUER)]).await;
    assert!(matches!(step, Step::Stop(CallbackOutcome::UpstreamRefused { .. })));
    let step = s.run(&[("state", "s1"), ("code", "the-code"), ("iss", ISSUER)]).await;
    assert!(matches!(step, Step::Stop(CallbackOutcome::InvalidState)));
    assert!(s.calls().is_empty());
}

#[tokio::test]
async fn a_mix_up_never_redeems_the_code() {
    let s = Setup::new(false).await;
    let step = s.run(&[("state", "s1"), ("code", "the-code"), ("iss", "https://attacker.example")]).await;
    assert!(matches!(step, Step::Stop(CallbackOutcome::Rejected)), "{step:?}");
    assert!(s.calls().is_empty());
    assert_eq!(s.reasons(), ["issuer_mismatch"]);

    // A provider that advertises RFC 9207 must send `iss` (a repeated one counts as none).
    for iss in [vec![], vec![("iss", ISSUER), ("iss", ISSUER)]] {
        let s = Setup::new(true).await;
        let mut query = vec![("state", "s1"), ("code", "the-code")];
        query.extend(iss);
        assert!(matches!(s.run(&query).await, Step::Stop(CallbackOutcome::Rejected)));
        assert_eq!(s.calls(), ["iss_parameter_required"]);
        assert_eq!(s.reasons(), ["issuer_missing"]);
    }
}

#[tokio::test]
async fn iss_is_checked_before_an_error_response_is_believed() {
    let s = Setup::new(false).await;
    let step = s.run(&[("state", "s1"), ("error", "access_denied"), ("iss", "https://attacker.example")]).await;
    assert!(matches!(step, Step::Stop(CallbackOutcome::Rejected)), "{step:?}");
    assert_eq!(s.reasons(), ["issuer_mismatch"]);

    let s = Setup::new(true).await;
    let step = s.run(&[("state", "s1"), ("error", "access_denied")]).await;
    assert!(matches!(step, Step::Stop(CallbackOutcome::Rejected)), "{step:?}");
    assert_eq!(s.reasons(), ["issuer_missing"]);

    // With the right `iss`, the error wins over a code sent beside it: nothing is redeemed.
    let s = Setup::new(true).await;
    let description = format!("<b>no</b>\u{7}{}", "x".repeat(300));
    let query = [
        ("state", "s1"),
        ("error", "access_denied\"; x"),
        ("error_description", &description),
        ("iss", ISSUER),
        ("code", "the-code"),
    ];
    let Step::Stop(CallbackOutcome::UpstreamRefused { code, description }) = s.run(&query).await else {
        panic!("not an upstream error")
    };
    assert_eq!(code, "access_deniedx");
    let description = description.unwrap();
    assert!(description.starts_with("<b>no</b>x") && description.chars().count() == 200, "{description}");
    assert!(s.calls().is_empty());
    assert_eq!(s.reasons(), ["upstream_error"]);
}

#[tokio::test]
async fn verified_state_and_iss_redeem_the_code_once() {
    let s = Setup::new(false).await;
    let step = s.run(&[("state", "s1"), ("code", "the-code"), ("iss", ISSUER)]).await;
    assert!(matches!(&step, Step::Verified(v) if v.0.provider == "op" && v.1.subject == "sub-1"), "{step:?}");
    assert_eq!(s.calls(), ["redeem"]);
    assert!(s.reasons().is_empty());

    // No `iss` from a provider that does not advertise RFC 9207: asked, then redeemed.
    let s = Setup::new(false).await;
    assert!(matches!(s.run(&[("state", "s1"), ("code", "the-code")]).await, Step::Verified(..)));
    assert_eq!(s.calls(), ["iss_parameter_required", "redeem"]);

    let s = Setup::new(false).await;
    assert!(matches!(s.run(&[("state", "s1"), ("code", "")]).await, Step::Stop(CallbackOutcome::MissingCode)));
    assert_eq!(s.calls(), ["iss_parameter_required"]);
    assert_eq!(s.reasons(), ["missing_code"]);
}

#[tokio::test]
async fn a_failed_redemption_is_recorded_with_its_reason() {
    let mut s = Setup::new(false).await;
    s.upstream.answer = || Err(UpstreamError::rejected("id_token_nonce_mismatch", "nonce"));
    let step = s.run(&[("state", "s1"), ("code", "the-code"), ("iss", ISSUER)]).await;
    assert!(matches!(step, Step::Stop(CallbackOutcome::Rejected)));
    assert_eq!(s.reasons(), ["id_token_nonce_mismatch"]);

    let mut s = Setup::new(false).await;
    s.upstream.answer = || Err(UpstreamError::Unavailable("token endpoint: timeout".into()));
    let step = s.run(&[("state", "s1"), ("code", "the-code"), ("iss", ISSUER)]).await;
    assert!(matches!(step, Step::Stop(CallbackOutcome::Unavailable { cause }) if cause.contains("timeout")));
    assert_eq!(s.reasons(), ["upstream_unavailable"]);
}

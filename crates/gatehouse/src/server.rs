//! Wiring and the server loop: open the configured store, build the services, serve HTTP until
//! a shutdown signal, letting in-flight requests finish.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use gatehouse_core::abuse::{InProcessRateLimiter, Lockout, RateLimiter, RateLimits};
use gatehouse_core::federation::FederationService;
use gatehouse_core::invitation::{InvitationService, InvitationStores};
use gatehouse_core::keys::{Algorithm, KeyService, MasterKey};
use gatehouse_core::oauth::backchannel::BackchannelSessions;
use gatehouse_core::oauth::{CachedClientStore, DpopNonces, DpopVerifier, OAuthService, OAuthSettings};
use gatehouse_core::policy::{PolicyService, PolicyStores};
use gatehouse_core::rbac::{AdminService, AdminStores, ConsoleStores, RbacService};
use gatehouse_core::scale_out::{InvalidationBus, Invalidations, NoopBus, SharedStateHealth};
use gatehouse_core::token::{
    AccessTokenSettings, FirstPartyTokens, Hs256Key, RefreshService, SigningChoice, TokenIssuer,
};
use gatehouse_core::{AccountService, AccountStores, Clock, PasswordHasher};
use gatehouse_http::upstream::{Federation, Upstreams};
use gatehouse_http::{AppState, AppStateInner, BearerVerifier, ClientOrigins};
use gatehouse_store::shared_state::RedisTime;
use gatehouse_store::{RedisSharedState, Stores};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::secrets::Secrets;

/// The services every command works with.
pub struct Services {
    pub stores: Stores,
    pub accounts: Arc<AccountService>,
    pub refresh: Arc<RefreshService>,
    /// GCRA rate limits, counted in this process (shared with `accounts` for the per-account one).
    pub rate_limits: Arc<RateLimits>,
    /// Roles, permissions and grants (the admin API and the `roles`/`permissions` commands).
    pub rbac: Arc<RbacService>,
    /// Cedar policies and decisions (the AuthZEN API and the `policies` command).
    pub policies: Arc<PolicyService>,
    /// Invitations (the admin API, the accept page, `users invite` and invite-only federation).
    pub invitations: Arc<InvitationService>,
    pub clock: Arc<dyn Clock>,
    /// Redis, when configured (`redis_url`): shared rate limits and the invalidation bus.
    pub redis: Option<RedisSharedState>,
    /// This node's caches and the bus to the other nodes' (a no-op bus without Redis).
    pub invalidations: Arc<Invalidations>,
    /// Whether limits are shared right now, and the counters `/metrics` shows.
    pub shared_health: Arc<SharedStateHealth>,
}

/// Creates the data directory (mode 0700), opens the database (applying migrations when
/// `migrate`), and builds the account service. Mail is queued when the master key can be
/// loaded (it seals queued messages), else sent inline (see [`crate::mail::build_mail`]).
pub async fn build(settings: &Settings, clock: Arc<dyn Clock>, migrate: bool) -> anyhow::Result<Services> {
    settings.validate()?;
    let master = crate::secrets::master_key(settings).ok();
    build_with_master(settings, clock, migrate, master).await
}

/// [`build`] with the master key already loaded (the server's).
pub async fn build_with_master(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    migrate: bool,
    master: Option<MasterKey>,
) -> anyhow::Result<Services> {
    settings.validate()?;
    if settings.database_url().starts_with("sqlite:") {
        create_data_dir(&settings.data_dir)?;
    }
    let mut stores = gatehouse_store::connect(&settings.database_url(), migrate)
        .await
        .with_context(|| format!("opening database {}", gatehouse_store::redact_url(&settings.database_url())))?;
    let (redis, invalidations, shared_health) = shared_state(settings)?;
    // Every service shares this one cache, so a client deleted through this node is gone at
    // once; with Redis, other nodes drop it when the bus tells them, else within `CLIENT_CACHE_TTL` seconds.
    let clients = Arc::new(CachedClientStore::new(stores.clients, clock.clone()).publishing_to(invalidations.clone()));
    invalidations.listen(clients.clone());
    stores.clients = clients;
    crate::self_registration::resolve_metadata_documents(settings, &mut stores, clock.clone())?;
    let hasher = PasswordHasher::new(settings.password.hash_params(), settings.password.pool_size())
        .context("invalid password hashing parameters")?
        .with_queue_limit(settings.password.queue_size());
    let limiter: Arc<dyn RateLimiter> = match &redis {
        Some(r) => Arc::new(r.rate_limiter(clock.clone(), RedisTime::Server)),
        None => Arc::new(InProcessRateLimiter::new(clock.clone())),
    };
    let rate_limits =
        Arc::new(RateLimits::new(limiter, settings.rate_limits.settings(), stores.audit.clone(), clock.clone()));
    // Failed-login counters live in the database: the CLI's `set-password` clears a lock the
    // server set, and nodes sharing one PostgreSQL share the count.
    let lockout = Lockout::new(stores.login_attempts.clone(), clock.clone(), settings.lockout.policy());
    let accounts = AccountService::new(
        AccountStores {
            users: stores.users.clone(),
            sessions: stores.sessions.clone(),
            refresh: stores.refresh.clone(),
            guard: stores.rbac.clone(),
            audit: stores.audit.clone(),
            tokens: stores.account_tokens.clone(),
            mfa: stores.mfa.clone(),
            passkeys: stores.passkeys.clone(),
        },
        Arc::new(hasher),
        crate::mail::build_mail(settings, &stores, clock.clone(), master.clone())?,
        clock.clone(),
        settings.account_settings(),
    )
    .with_abuse_protection(rate_limits.clone(), lockout)
    // Back-Channel Logout 1.0: ended sessions queue logout tokens (sent by the server's worker).
    .with_backchannel(Arc::new(BackchannelSessions::new(stores.backchannel.clone(), clock.clone())));
    // TOTP secrets are sealed with the master key; without one (a CLI run with no key),
    // two-step sign-in can be neither set up nor checked (an admin can still reset it).
    let accounts = match master {
        Some(master) => accounts.with_master_key(Arc::new(master)),
        None => accounts,
    };
    // Passkeys: the relying party is the issuer (none when the issuer's host is an IP address).
    let accounts = Arc::new(match settings.passkeys.relying_party(&settings.issuer, &settings.mail.product_name)? {
        Some(rp) => accounts.with_passkeys(Arc::new(rp.build()?)),
        None => accounts,
    });
    let refresh = Arc::new(RefreshService::new(
        stores.refresh.clone(),
        stores.clients.clone(),
        stores.audit.clone(),
        clock.clone(),
        settings.refresh_settings(),
    ));
    // RBAC writes publish `Invalidation::Rbac`: the decisions' copy of the grants (held by
    // `policies`, registered below) is dropped on this node at once and on the others by the bus.
    let rbac = Arc::new(
        RbacService::new(
            stores.rbac.clone(),
            stores.users.clone(),
            stores.clients.clone(),
            stores.audit.clone(),
            clock.clone(),
        )
        .publishing_to(invalidations.clone()),
    );
    let policies = Arc::new(
        PolicyService::new(
            PolicyStores {
                policies: stores.policies.clone(),
                rbac: stores.rbac.clone(),
                users: stores.users.clone(),
                clients: stores.clients.clone(),
                audit: stores.audit.clone(),
            },
            clock.clone(),
        )
        .publishing_to(invalidations.clone()),
    );
    invalidations.listen(policies.clone());
    let invitations = Arc::new(
        InvitationService::new(
            InvitationStores {
                invitations: stores.invitations.clone(),
                users: stores.users.clone(),
                rbac: stores.rbac.clone(),
                audit: stores.audit.clone(),
            },
            accounts.clone(),
            clock.clone(),
        )
        .publishing_to(invalidations.clone()),
    );
    Ok(Services {
        stores,
        accounts,
        refresh,
        rate_limits,
        rbac,
        policies,
        invitations,
        clock,
        redis,
        invalidations,
        shared_health,
    })
}

/// Redis (when `redis_url` is set; not contacted yet, so a node starts while Redis is down),
/// the invalidation hub over it, and the health `/metrics` reports. The CLI builds the same,
/// so its changes reach the running nodes' caches too.
fn shared_state(
    settings: &Settings,
) -> anyhow::Result<(Option<RedisSharedState>, Arc<Invalidations>, Arc<SharedStateHealth>)> {
    let options = settings.redis_options();
    let health = Arc::new(SharedStateHealth::new(options.is_some()));
    let Some(options) = options else {
        return Ok((None, Arc::new(Invalidations::new(Arc::new(NoopBus), health.clone())), health));
    };
    // `rediss://` needs the process's rustls provider (the CLI never installs it otherwise).
    crate::tls::install_crypto_provider();
    let redis = RedisSharedState::connect(&options, health.clone()).context("redis_url")?;
    let bus: Arc<dyn InvalidationBus> = Arc::new(redis.bus());
    Ok((Some(redis), Arc::new(Invalidations::new(bus, health.clone())), health))
}

/// Sign-in through upstream providers, when any is configured: their secrets are read here
/// (environment or 0600 file), so a missing secret stops start-up with a clear message.
fn build_federation(settings: &Settings, services: &Services) -> anyhow::Result<Option<Arc<Federation>>> {
    let providers = settings.federation.load()?;
    if providers.is_empty() {
        return Ok(None);
    }
    let service = Arc::new(FederationService::new(
        services.stores.federation.clone(),
        services.stores.users.clone(),
        services.accounts.clone(),
        services.invitations.clone(),
        services.stores.audit.clone(),
        services.clock.clone(),
        settings.federation.provisioning()?,
    ));
    let upstreams = Upstreams::new(providers, &settings.issuer_id(), services.clock.clone())
        .context("building the HTTP client for upstream providers")?;
    Ok(Some(Arc::new(Federation { service, upstreams })))
}

/// DPoP proofs accepted once cluster-wide (RFC 9449 §11.1); with `dpop.require_nonce`, only
/// with a server nonce (§8, §9) keyed from the master key, so every node accepts every node's.
fn dpop_verifier(settings: &Settings, services: &Services, master: &MasterKey) -> DpopVerifier {
    let verifier = DpopVerifier::new(services.stores.dpop_jtis.clone(), services.clock.clone());
    if !settings.dpop.require_nonce {
        return verifier;
    }
    verifier.with_nonces(DpopNonces::new(master.derive("dpop-nonce"), DpopNonces::DEFAULT_SLOT_SECS))
}

/// Opens the signing keys with the master key (a wrong key stops here with a clear message)
/// and creates the first key of each algorithm when there is none.
pub async fn build_keys(
    settings: &Settings,
    services: &Services,
    master: MasterKey,
) -> anyhow::Result<Arc<KeyService>> {
    let keys = KeyService::start(
        services.stores.keys.clone(),
        services.stores.audit.clone(),
        master,
        services.clock.clone(),
        settings.key_policy(),
    )
    .await
    .context("loading signing keys")?;
    Ok(Arc::new(keys))
}

fn token_issuer(
    settings: &Settings,
    hs256: Option<zeroize::Zeroizing<Vec<u8>>>,
    keys: Arc<KeyService>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<TokenIssuer> {
    let signing = match (settings.tokens.access_token_alg.as_str(), hs256) {
        ("HS256", Some(secret)) => SigningChoice::Hs256(Arc::new(Hs256Key::new(secret)?)),
        ("HS256", None) => anyhow::bail!("HS256 access tokens need an HS256 secret"),
        (other, _) => SigningChoice::Asymmetric(
            Algorithm::parse(other).with_context(|| format!("unknown access-token algorithm {other}"))?,
        ),
    };
    let audience =
        if settings.tokens.audience.is_empty() { settings.issuer_id() } else { settings.tokens.audience.clone() };
    Ok(TokenIssuer::new(
        keys,
        clock,
        AccessTokenSettings {
            issuer: settings.issuer_id(),
            audience,
            lifetime: settings.tokens.access_token_lifetime,
            signing,
        },
    ))
}

/// Gatehouse's own audiences (the issuer and the configured `aud`): no resource server may be
/// registered under one, or its tokens would be accepted by Gatehouse's own APIs.
pub fn own_audiences(settings: &Settings) -> Vec<String> {
    let mut own = vec![settings.issuer_id()];
    if !settings.tokens.audience.is_empty() && settings.tokens.audience != own[0] {
        own.push(settings.tokens.audience.clone());
    }
    own
}

/// Verification of bearer tokens presented to our own APIs: our issuer, our audience, our keys.
fn bearer_verifier(
    settings: &Settings,
    issuer: &TokenIssuer,
    hs256: Option<zeroize::Zeroizing<Vec<u8>>>,
    keys: Arc<KeyService>,
) -> BearerVerifier {
    let t = issuer.settings();
    let validation = gatehouse_guard::Validation::new(t.issuer.clone(), [t.audience.clone()])
        .with_leeway(u64::try_from(settings.tokens.leeway).unwrap_or(30));
    let hs256 = match (&t.signing, hs256) {
        (SigningChoice::Hs256(key), Some(secret)) => Some((key.kid().to_owned(), secret)),
        _ => None,
    };
    BearerVerifier::new(keys, validation, hs256)
}

fn create_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting permissions of {}", dir.display()))?;
    }
    Ok(())
}

/// The process-wide Prometheus recorder (installed once, shared by every server in a process).
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().ok()).clone()
}

/// Serves the application on `listener` (and, when `tls.redirect_bind` is set, the HTTP→HTTPS
/// redirect listener bound here) until `shutdown` completes; in-flight requests finish.
pub async fn run(
    settings: Settings,
    secrets: Secrets,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let redirect = match settings.tls.redirect_bind {
        Some(addr) => Some(
            TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (tls.redirect_bind)"))?,
        ),
        None => None,
    };
    run_on(settings, secrets, clock, Listeners { main: listener, redirect }, shutdown).await
}

/// Sockets bound before the server starts (tests bind port 0 and read the address first).
pub struct Listeners {
    pub main: TcpListener,
    /// The plain-HTTP listener that redirects to HTTPS (needs TLS).
    pub redirect: Option<TcpListener>,
}

/// [`run`] on listeners bound by the caller.
pub async fn run_on(
    settings: Settings,
    secrets: Secrets,
    clock: Arc<dyn Clock>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    settings.validate()?;
    let issuer = settings.issuer_url()?;
    crate::tls::install_crypto_provider();
    // Before any other work, so that a bad certificate or a readable key stops start-up early.
    let tls = match crate::tls::files(&settings)? {
        Some(files) => Some((crate::tls::server_config(&files)?, files)),
        None => None,
    };
    if issuer.scheme() == "http" {
        tracing::warn!(
            %issuer,
            "issuer is plain http on loopback: cookies are sent without Secure and without the __Host- prefix; \
             development only"
        );
    }
    let services =
        build_with_master(&settings, clock.clone(), settings.auto_migrate, Some(secrets.master_key.clone())).await?;
    let dpop = dpop_verifier(&settings, &services, &secrets.master_key);
    let keys = build_keys(&settings, &services, secrets.master_key).await?;
    let hs256_copy = secrets.hs256.clone();
    let issuer_service = Arc::new(token_issuer(&settings, secrets.hs256, keys.clone(), clock)?);
    let bearer = bearer_verifier(&settings, &issuer_service, hs256_copy, keys.clone());
    let tokens =
        Arc::new(FirstPartyTokens::new(services.accounts.clone(), services.refresh.clone(), issuer_service.clone()));
    let oauth = Arc::new(
        OAuthService::new(
            services.stores.clients.clone(),
            services.stores.codes.clone(),
            services.stores.consents.clone(),
            services.accounts.clone(),
            services.refresh.clone(),
            issuer_service.clone(),
            keys.clone(),
            services.clock.clone(),
            OAuthSettings {
                issuer: settings.issuer_id(),
                require_pkce: settings.tokens.require_pkce_for_confidential_clients,
                id_token_lifetime: settings.tokens.id_token_lifetime,
                require_pushed_authorization_requests: settings.oauth.require_pushed_authorization_requests,
            },
            services.stores.assertion_jtis.clone(),
            services.stores.rbac.clone(),
            services.stores.audit.clone(),
            services.stores.devices.clone(),
            services.stores.resources.clone(),
            services.stores.exchange_rules.clone(),
        )
        .with_self_registration(services.stores.self_registration.clone()),
    );
    let admin = Arc::new(AdminService::new(
        services.rbac.clone(),
        services.accounts.clone(),
        keys.clone(),
        AdminStores {
            users: services.stores.users.clone(),
            audit: services.stores.audit.clone(),
            clients: services.stores.clients.clone(),
            console: ConsoleStores {
                overview: services.stores.overview.clone(),
                consents: services.stores.consents.clone(),
                federation: services.stores.federation.clone(),
            },
            resources: services.stores.resources.clone(),
            own_audiences: own_audiences(&settings),
        },
        services.clock.clone(),
    ));
    let federation = build_federation(&settings, &services)?;
    let state = AppState::new(AppStateInner {
        admin,
        policies: services.policies.clone(),
        accounts: services.accounts.clone(),
        invitations: services.invitations.clone(),
        keys: keys.clone(),
        tokens,
        oauth: oauth.clone(),
        bearer: Arc::new(bearer),
        dpop: Arc::new(dpop),
        refresh_lifetime: settings.tokens.refresh_absolute_lifetime,
        health: services.stores.health.clone(),
        settings: Arc::new(settings.http_settings(issuer.clone(), tls.is_some())?),
        metrics: metrics_handle(),
        rate_limits: services.rate_limits.clone(),
        cors: Arc::new(settings.cors_policy()?),
        oauth_cors: Arc::new(settings.cors_policy()?.with_source(Arc::new(ClientOrigins(oauth.clone())))),
        federation: federation.clone(),
        shared_state: services.shared_health.clone(),
        registration: crate::self_registration::dynamic_registration(
            &settings,
            &services.stores,
            services.clock.clone(),
            false,
        )?,
        client_id_metadata_documents: settings.oauth.client_id_metadata_document.enabled,
    });
    let every = Duration::from_secs(settings.keys.check_interval);
    let fed_service = federation.as_ref().map(|f| f.service.clone());
    let mail = services.accounts.mail().clone();
    let (stop_mail, mail_stopped) = tokio::sync::watch::channel(false);
    let mut mail_worker = tokio::spawn(crate::mail::worker(mail.clone(), settings.mail.poll_interval(), mail_stopped));
    let (stop_backchannel, backchannel_stopped) = tokio::sync::watch::channel(false);
    let backchannel_worker = match services.accounts.backchannel() {
        Some(sessions) => {
            let delivery = crate::backchannel::build_delivery(
                &settings,
                &services.stores,
                sessions.clone(),
                keys.clone(),
                services.clock.clone(),
            )?;
            let config = &settings.backchannel_logout;
            Some(tokio::spawn(crate::backchannel::worker(
                delivery,
                config.poll_interval(),
                config.failed_retention,
                backchannel_stopped,
            )))
        }
        None => None,
    };
    let purge = tokio::spawn(maintenance(
        services.accounts.clone(),
        mail,
        services.refresh.clone(),
        oauth.clone(),
        keys,
        fed_service,
        every,
    ));
    let sweeper = tokio::spawn(crate::self_registration::sweeper(
        services.stores.clone(),
        services.clock.clone(),
        settings.oauth.registration.clone(),
    ));
    // Other nodes' changes: a subscriber on its own connection, reconnecting by itself.
    let subscriber = match &services.redis {
        Some(redis) => {
            let up = redis.ping().await;
            tracing::info!(
                redis = %gatehouse_store::redact_url(&settings.redis_url),
                up,
                "Redis configured: rate limits and cache invalidation are shared across nodes"
            );
            Some(gatehouse_store::shared_state::subscribe(redis, services.invalidations.clone()))
        }
        None => None,
    };
    let addr = listeners.main.local_addr()?;
    let redirect_addr = listeners.redirect.as_ref().map(TcpListener::local_addr).transpose()?;
    tracing::info!(%addr, tls = tls.is_some(), ?redirect_addr, %issuer, backend = services.stores.backend.as_str(), "gatehouse listening");
    let (tls, reloader) = tls.map(|(config, files)| crate::tls::reloadable(config, files)).unzip();
    let what = crate::listen::Serve {
        main: listeners.main,
        app: gatehouse_http::app(state),
        tls,
        redirect: listeners.redirect.map(|l| (l, gatehouse_http::redirect_app(&issuer))),
    };
    let served = crate::listen::serve(what, &settings.limits, shutdown).await;
    purge.abort();
    sweeper.abort();
    if let Some(subscriber) = subscriber {
        subscriber.abort();
    }
    // The worker finishes the message in hand; one stuck on a dead server is cut off after a
    // few seconds (its lease then runs out and another node, or the next start, retries it).
    let _ = stop_mail.send(true);
    if tokio::time::timeout(Duration::from_secs(5), &mut mail_worker).await.is_err() {
        tracing::warn!("mail delivery worker did not stop in time");
        mail_worker.abort();
    }
    // As the mail worker: the POST in hand finishes (a lease on a stuck one runs out).
    let _ = stop_backchannel.send(true);
    if let Some(mut worker) = backchannel_worker
        && tokio::time::timeout(Duration::from_secs(5), &mut worker).await.is_err()
    {
        tracing::warn!("back-channel logout worker did not stop in time");
        worker.abort();
    }
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    served
}

/// Every `period` (default a minute): rotate signing keys when due and pick up keys other
/// nodes created; every fifth round: delete expired sessions, refresh-token families, codes,
/// parked authorization requests and old records of undeliverable mail.
async fn maintenance(
    accounts: Arc<AccountService>,
    mail: Arc<gatehouse_core::mail::MailService>,
    refresh: Arc<RefreshService>,
    oauth: Arc<OAuthService>,
    keys: Arc<KeyService>,
    federation: Option<Arc<FederationService>>,
    period: Duration,
) {
    let mut every = tokio::time::interval(period);
    every.tick().await;
    for round in 1u64.. {
        every.tick().await;
        if let Err(e) = keys.maintain().await {
            tracing::error!(error = %e, "signing-key maintenance failed");
        }
        if round % 5 != 0 {
            continue;
        }
        match accounts.purge_expired_sessions().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired sessions removed"),
            Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
        }
        match accounts.purge_login_attempts().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired failed-login counters removed"),
            Err(e) => tracing::warn!(error = %e, "purging failed-login counters failed"),
        }
        match accounts.purge_account_tokens().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired account links removed"),
            Err(e) => tracing::warn!(error = %e, "purging expired account links failed"),
        }
        match accounts.purge_mfa_challenges().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired second-factor steps removed"),
            Err(e) => tracing::warn!(error = %e, "purging second-factor steps failed"),
        }
        match accounts.purge_passkey_ceremonies().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired passkey ceremonies removed"),
            Err(e) => tracing::warn!(error = %e, "purging passkey ceremonies failed"),
        }
        if let Some(federation) = &federation {
            match federation.purge().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired federated login states removed"),
                Err(e) => tracing::warn!(error = %e, "purging federated login states failed"),
            }
        }
        match mail.purge_failed().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "old records of undeliverable mail removed"),
            Err(e) => tracing::warn!(error = %e, "purging failed mail failed"),
        }
        match refresh.purge().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired refresh-token families removed"),
            Err(e) => tracing::warn!(error = %e, "purging refresh-token families failed"),
        }
        match oauth.purge().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired authorization codes and parked requests removed"),
            Err(e) => tracing::warn!(error = %e, "purging authorization codes failed"),
        }
    }
}

/// The next delivery of `signal`; never, when its handler could not be installed.
#[cfg(unix)]
async fn recv_or_never(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: a signal that arrives while the server is still starting (after it
/// announced its address) then shuts it down gracefully instead of killing it.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let streams = {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &'static str| {
            signal(kind).map_err(|e| tracing::error!(error = %e, signal = name, "cannot listen for the signal")).ok()
        };
        (listen(SignalKind::interrupt(), "SIGINT"), listen(SignalKind::terminate(), "SIGTERM"))
    };
    async move {
        #[cfg(unix)]
        {
            let (mut int, mut term) = streams;
            tokio::select! {
                () = recv_or_never(int.as_mut()) => {},
                () = recv_or_never(term.as_mut()) => {},
            }
        }
        #[cfg(not(unix))]
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown signal received; finishing in-flight requests");
    }
}

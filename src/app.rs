//! The application: storage, keys and router, served from a bound listener so
//! tests (port 0) and the binary share one path.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::auth::issuers::{IssuerError, TrustedIssuer};
use crate::auth::tokens::TokenIssuer;
use crate::auth::Authenticator;
use crate::config::{Settings, DEFAULT_COMPANY};
use crate::faults::Faults;
use crate::http::api::rate_limit::ApiRateLimiter;
use crate::http::serve::{serve, ConnectionLimits};
use crate::http::{service, AppState, Services};
use crate::journal::Journal;
use crate::keys::{Scope, Secret};
use crate::storage::{Database, NewApiKey, Store, StoreError};

/// Request line and headers; a bigger request is answered 431.
const MAX_HEADER_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Issuer(#[from] IssuerError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

pub struct App {
    listener: TcpListener,
    state: AppState,
    max_body_bytes: usize,
    limits: ConnectionLimits,
    /// A key minted at this start because the database had none; shown once.
    pub first_key: Option<Secret>,
}

impl App {
    pub async fn build(settings: &Settings) -> Result<App, StartError> {
        let store = Database::connect(&settings.database_url).await?;
        store.start_upkeep();
        let first_key = prepare_keys(&store, settings.bootstrap_token.as_ref()).await?;
        let tokens =
            TokenIssuer::load(&store, settings.jwt_secret.as_ref(), &settings.token_issuer).await?;
        let mut issuers = Vec::new();
        for config in &settings.trusted_issuers {
            let company = store.ensure_company(&config.company).await?;
            issuers.push(TrustedIssuer::load(config, company.id).await?);
        }
        let store = Arc::new(store);
        let auth = Arc::new(Authenticator::new(store.clone(), tokens, issuers));
        let listener = TcpListener::bind(&settings.listen)
            .await
            .map_err(|source| StartError::Bind {
                address: settings.listen.clone(),
                source,
            })?;
        Ok(App {
            listener,
            state: AppState::new(Services {
                journal: Journal::start(store.clone(), settings.journal_retention),
                faults: Arc::new(Faults::new(store.clone())),
                max_body_bytes: settings.max_body_bytes,
                request_timeout: settings.request_timeout,
                store,
                draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                auth,
                admin_token: settings.admin_token.as_ref().map(|t| Arc::new(t.digest())),
                public_url: settings.public_url.as_deref().map(Arc::from),
                rate_limiter: settings
                    .api_rate_limit
                    .map(|limit| Arc::new(ApiRateLimiter::new(limit))),
            }),
            max_body_bytes: settings.max_body_bytes,
            limits: ConnectionLimits {
                header_read_timeout: settings.header_read_timeout,
                max_header_bytes: MAX_HEADER_BYTES,
            },
            first_key,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn backend(&self) -> &'static str {
        self.state.store.backend()
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let auth = self.state.auth.clone();
        let journal = self.state.journal.clone();
        let store = self.state.store.clone();
        let draining = self.state.draining.clone();
        let shutdown = async move {
            shutdown.await;
            draining.store(true, std::sync::atomic::Ordering::Relaxed);
        };
        crate::http::operations::prometheus();
        let app = service(self.state, self.max_body_bytes);
        let served = serve(self.listener, app, self.limits, shutdown).await;
        // Record the last key uses and journal entries before exiting.
        auth.usage.flush(&auth.store).await;
        journal.flush().await;
        store.close().await;
        served
    }
}

/// Makes the bootstrap token valid for company `default` with every scope, or,
/// with no bootstrap token and no keys at all, mints a first key.
async fn prepare_keys(
    store: &Database,
    bootstrap: Option<&Secret>,
) -> Result<Option<Secret>, StoreError> {
    if let Some(token) = bootstrap {
        let company = store.ensure_company(DEFAULT_COMPANY).await?;
        store
            .ensure_key(&NewApiKey {
                company_id: company.id,
                name: "bootstrap".into(),
                digest: token.digest(),
                scopes: Scope::ALL.to_vec(),
                expires_at: None,
            })
            .await?;
        return Ok(None);
    }
    if store.count_keys().await? > 0 {
        return Ok(None);
    }
    let company = store.ensure_company(DEFAULT_COMPANY).await?;
    let secret = Secret::generate();
    store
        .create_key(&NewApiKey {
            company_id: company.id,
            name: "first start".into(),
            digest: secret.digest(),
            scopes: Scope::ALL.to_vec(),
            expires_at: None,
        })
        .await?;
    Ok(Some(secret))
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

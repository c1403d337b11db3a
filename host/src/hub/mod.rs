//! The service layer: what ScaiHub does, independent of HTTP. Handlers and
//! the delivery worker call into a shared [`Hub`]; it owns the store, the
//! clock, the master key and the destination policy.

pub mod applications;
pub mod cluster;
pub mod compiler;
pub mod console;
pub mod group;
pub mod ingest;
pub mod oauth;
pub mod oidc;
pub mod plugins;
pub mod principals;
pub mod recovery;
pub mod retention;
pub mod scripts;
pub mod stats;
pub mod users;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use crate::clock::{Millis, SharedClock, rfc3339};
use crate::crypto::MasterKey;
use crate::destinations::DestinationPolicy;
use crate::domain::{Category, Event};
use crate::ids::{IdKind, new_id};
use crate::metrics::Metrics;
use crate::storage::{Store, StoreError};

/// Tunables of the service that are not storage or HTTP.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// Delays before each retry; its length is the number of retries.
    pub retry_schedule: Vec<Duration>,
    /// How long the previous webhook secret keeps signing after a rotation.
    pub secret_grace: Duration,
    pub delivery_timeout: Duration,
    /// How long a claim holds a delivery before another worker may take it.
    pub lease: Duration,
    pub max_in_flight: usize,
    pub max_in_flight_per_webhook: usize,
    pub max_body_bytes: usize,
    pub public_url: String,
    /// Finished deliveries and unreferenced events older than this are deleted.
    pub retention: Duration,
    /// How long an upload waits for its compile before answering
    /// `compiling` (202): small components answer `ready` at once.
    pub plugin_upload_wait: Duration,
    /// Where spans are exported (OTLP/HTTP); `None`: nothing is.
    pub traces: Option<crate::traces::TraceSettings>,
}

impl Default for HubSettings {
    fn default() -> Self {
        HubSettings {
            retry_schedule: crate::config::parse_schedule("30s,1m,5m,15m,1h,6h,24h")
                .expect("default schedule parses"),
            secret_grace: Duration::from_secs(24 * 3600),
            delivery_timeout: Duration::from_secs(15),
            lease: Duration::from_secs(60),
            max_in_flight: 256,
            max_in_flight_per_webhook: 64,
            max_body_bytes: 1024 * 1024,
            public_url: "http://127.0.0.1:8080".into(),
            retention: Duration::from_secs(30 * 86_400),
            plugin_upload_wait: Duration::from_secs(2),
            traces: None,
        }
    }
}

/// The shared service.
pub struct Hub {
    pub store: Store,
    pub clock: SharedClock,
    pub master_key: MasterKey,
    pub destinations: DestinationPolicy,
    pub settings: HubSettings,
    pub metrics: Metrics,
    /// The keys that sign and verify access tokens.
    pub keys: crate::oauth::keys::KeyRing,
    /// The sandbox that runs customer plugins.
    pub plugins: Arc<crate::plugin::PluginRuntime>,
    /// Compiles uploaded plugin versions, one at a time, off the requests.
    pub compiler: compiler::CompileQueue,
    /// Loads of plugin artifacts into the runtime's cache, one at a time:
    /// deliveries that miss the cache together wait for the first one's
    /// load instead of each reading and deserialising the artifact (a
    /// JavaScript plugin's is ~40 MB) — see [`Hub::loaded_plugin`].
    pub plugin_loads: tokio::sync::Mutex<()>,
    /// Wakes the delivery worker when new work is committed.
    pub wake: Arc<Notify>,
    /// This process's identity as a lease holder.
    pub worker_owner: String,
    /// The local worker's in-memory queue: deliveries created here are
    /// leased to it and handed over after commit, skipping a claim query.
    pub fast_lane: std::sync::Mutex<
        Option<
            tokio::sync::mpsc::UnboundedSender<Vec<crate::storage::deliveries::ClaimedDelivery>>,
        >,
    >,
    /// Bytes of deliveries handed to the fast lane and not yet started
    /// (see [`crate::hub::ingest::FAST_LANE_BYTES`]).
    pub fast_backlog: std::sync::atomic::AtomicUsize,
    /// Keeping in touch with other processes on the same PostgreSQL.
    pub cluster: cluster::Cluster,
    /// Own events written with group commit (see [`Hub::log_batched`]).
    pub audit_queue: Option<tokio::sync::mpsc::Sender<QueuedEvent>>,
    /// Ingest requests waiting for the group-commit writers (see
    /// [`group`]); on SQLite one writer, so the recorder of attempt results
    /// and the claims wait behind at most one ingest transaction.
    pub ingest_queue: Option<tokio::sync::mpsc::UnboundedSender<group::Queued>>,
    /// API keys' principals, so ingest does not read the key per request;
    /// ingest re-checks the key in its transaction (see [`group::KeyRef`]).
    pub principal_cache: principals::PrincipalCache,
    /// Spans of ingest requests and delivery attempts, exported or not.
    pub traces: crate::traces::Traces,
    /// ScaiHub as a client of organisations' own OpenID Connect providers.
    pub oidc: crate::oauth::oidc::OidcClient,
}

/// An own event waiting for the group-commit writer, and who to tell.
pub struct QueuedEvent {
    pub org_id: String,
    pub event: Event,
    pub done: tokio::sync::oneshot::Sender<bool>,
}

/// A failure of a service call, before it meets HTTP.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Invalid(#[from] crate::domain::FieldError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    /// The credential was revoked while the request waited.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The store could not be reached for a group of requests.
    #[error("the store is unavailable")]
    Unavailable,
    /// A failure shared by a group of requests, logged once by the group.
    #[error("{0}")]
    Internal(String),
}

impl From<HubError> for crate::error::ApiError {
    fn from(err: HubError) -> Self {
        use crate::error::ApiError;
        match err {
            HubError::Invalid(e) => ApiError::Invalid(e),
            HubError::NotFound(what) => ApiError::NotFound(what),
            HubError::Conflict(m) => ApiError::Conflict(m),
            HubError::Store(e) => ApiError::from(e),
            HubError::Unauthenticated(m) => ApiError::Unauthenticated(m),
            HubError::Unavailable => ApiError::Unavailable,
            other => ApiError::Internal(other.into()),
        }
    }
}

pub type HubResult<T> = Result<T, HubError>;

/// Who did something, for the audit events ScaiHub writes about itself.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<String>,
    pub service_account: Option<String>,
    pub ip_address: Option<String>,
}

impl Actor {
    /// ScaiHub itself (the delivery worker).
    pub fn system() -> Actor {
        Actor::default()
    }
}

impl Hub {
    /// Logs an own event durably, sharing one transaction with others
    /// logged at the same moment (group commit): hot paths such as token
    /// issue pay one commit per batch instead of one each.
    pub async fn log_batched(&self, org_id: &str, event: Event) -> HubResult<()> {
        if let Some(queue) = &self.audit_queue {
            let (done, wait) = tokio::sync::oneshot::channel();
            if queue
                .send(QueuedEvent {
                    org_id: org_id.to_string(),
                    event: event.clone(),
                    done,
                })
                .await
                .is_ok()
            {
                return match wait.await {
                    Ok(true) => Ok(()),
                    _ => Err(HubError::Conflict(
                        "the audit log could not be written".into(),
                    )),
                };
            }
        }
        let mut tx = self.store.begin().await?;
        let outcome = self.log_own_event(&mut tx, org_id, event).await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        Ok(())
    }

    /// The group-commit writer behind [`Hub::log_batched`]; ends when the
    /// hub is gone.
    pub async fn run_audit_writer(
        hub: std::sync::Weak<Hub>,
        mut rx: tokio::sync::mpsc::Receiver<QueuedEvent>,
    ) {
        let mut batch = Vec::with_capacity(256);
        while rx.recv_many(&mut batch, 256).await > 0 {
            let Some(hub) = hub.upgrade() else { break };
            let result = async {
                let mut tx = hub.store.begin().await?;
                let mut outcomes = Vec::new();
                for q in &batch {
                    outcomes.push(
                        hub.ingest_in_tx(
                            &mut tx,
                            &q.org_id,
                            vec![ingest::Incoming::new(q.event.clone())],
                        )
                        .await?,
                    );
                }
                tx.commit().await?;
                for o in &outcomes {
                    hub.after_commit(o);
                }
                Ok::<_, HubError>(())
            }
            .await;
            if let Err(e) = &result {
                tracing::error!(error = %format!("{e:#}"), "writing a batch of audit events failed");
            }
            for q in batch.drain(..) {
                let _ = q.done.send(result.is_ok());
            }
        }
    }

    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// An audit event about something ScaiHub did.
    pub fn own_event(
        &self,
        category: Category,
        action: &str,
        actor: &Actor,
        resource_id: &str,
        payload: Value,
    ) -> Event {
        Event {
            event_id: new_id(IdKind::Event),
            timestamp: rfc3339(self.now()),
            category,
            action: action.to_string(),
            user_id: actor.user_id.clone(),
            resource_id: Some(resource_id.to_string()),
            payload,
            ip_address: actor.ip_address.clone(),
            share_id: None,
            service_account: actor.service_account.clone(),
        }
    }
}

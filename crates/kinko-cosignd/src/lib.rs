//! `kinko-cosignd`: the policy cosigner as a service on its own host.
//!
//! It holds the cosigner's key, its audit key and its own ledger, opens
//! its [`Authority`] from the signed custody set-up, and answers the
//! backend over HTTPS with mutual TLS: the backend's client certificate
//! must be one the set-up pins ([`tls`]); there is no plaintext listener.
//! The API (`/v1`, JSON) is [`kinko_client::api`], described in
//! `docs/api.md` and `docs/openapi.json`.
//!
//! [`serve`] runs the service on a tokio runtime until a shutdown future
//! resolves, then drains requests in flight; [`spawn`] runs it on a thread
//! of its own (tests, the exchange's day, benchmarks).

#![forbid(unsafe_code)]

pub mod certs;
mod metrics;
mod server;
pub mod tls;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use kinko_cosigner::Authority;
use kinko_wallet::SigningKeys;

/// Limits of the service.
#[derive(Debug, Clone)]
pub struct Options {
    /// A request that takes longer is answered `503 timeout` (it may still
    /// complete: the client retries with the same `request_id`).
    pub request_timeout: Duration,
    /// How long a shutdown waits for requests in flight.
    pub drain: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            request_timeout: Duration::from_secs(30),
            drain: Duration::from_secs(30),
        }
    }
}

/// Serves `authority` on `listener` with `tls` until `shutdown` resolves,
/// then stops accepting and waits up to `options.drain` for requests in
/// flight. Answers are given only after their ledger transaction committed.
///
/// # Errors
/// The listener's I/O errors.
pub async fn serve<K>(
    authority: Authority<K>,
    tls: rustls::ServerConfig,
    listener: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    K: SigningKeys + Send + 'static,
{
    let shared = Arc::new(server::Shared::new(authority, options.request_timeout));
    let app = server::router(shared.clone());
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    let drain = options.drain;
    tokio::spawn(async move {
        shutdown.await;
        // First stop, then say so (nothing may keep the stop from happening).
        h.graceful_shutdown(Some(drain));
        tracing::info!("shutting down: draining requests in flight");
    });
    listener.set_nonblocking(true)?;
    let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls));
    let served = axum_server::from_tcp_rustls(listener, config)
        .handle(handle)
        .serve(app.into_make_service())
        .await;
    // The authority's ledger may be a blocking client with a runtime of its
    // own (PostgreSQL's), which panics when dropped on an async thread: the
    // last reference goes on the blocking pool.
    let _ = tokio::task::spawn_blocking(move || drop(shared)).await;
    served
}

/// A service running on a thread of its own.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Stops it (draining requests in flight) and waits for it.
    ///
    /// # Errors
    /// The service's I/O error, if it failed.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> std::io::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the service thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// Runs the service on `listen` (port 0: an ephemeral port) on a thread
/// with its own tokio runtime; it stops when the [`Running`] is shut down
/// or dropped.
///
/// # Errors
/// Binding the address or building the runtime.
pub fn spawn<K>(
    authority: Authority<K>,
    tls: rustls::ServerConfig,
    listen: SocketAddr,
    options: Options,
) -> std::io::Result<Running>
where
    K: SigningKeys + Send + 'static,
{
    let listener = TcpListener::bind(listen)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("kinko-cosignd")
        .build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("kinko-cosignd".into())
        .spawn(move || {
            runtime.block_on(serve(authority, tls, listener, options, async move {
                let _ = stopped.await;
            }))
        })?;
    Ok(Running {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// The router called in-process, without a socket or TLS: for the fuzz
/// target `api_bodies` only (feature `fuzz`).
#[cfg(feature = "fuzz")]
#[doc(hidden)]
pub mod fuzz {
    use std::sync::Arc;
    use std::time::Duration;

    use kinko_cosigner::Authority;
    use kinko_wallet::SigningKeys;
    use tower::ServiceExt as _;

    /// The service's routes over one authority, on a runtime of their own.
    pub struct Router {
        runtime: tokio::runtime::Runtime,
        app: axum::Router,
    }

    impl Router {
        /// The routes over `authority`.
        ///
        /// # Errors
        /// Building the runtime.
        pub fn new<K: SigningKeys + Send + 'static>(
            authority: Authority<K>,
        ) -> std::io::Result<Self> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let shared = Arc::new(crate::server::Shared::new(
                authority,
                Duration::from_secs(3600),
            ));
            Ok(Router {
                runtime,
                app: crate::server::router(shared),
            })
        }

        /// One request: its status and body.
        pub fn call(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
            let req = axum::http::Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.to_vec()));
            let Ok(req) = req else {
                return (0, Vec::new());
            };
            let app = self.app.clone();
            self.runtime.block_on(async move {
                let res = match app.oneshot(req).await {
                    Ok(r) => r,
                    Err(e) => match e {},
                };
                let status = res.status().as_u16();
                let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
                    .await
                    .map(|b| b.to_vec())
                    .unwrap_or_default();
                (status, bytes)
            })
        }
    }
}

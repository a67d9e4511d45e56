//! The listeners: the application over plain HTTP or TLS, and the optional HTTP→HTTPS redirect
//! listener, both with the connection-level limits — request-head size and field count (431),
//! a header read timeout against slow clients (the connection is closed), a TLS handshake
//! timeout, and a cap on concurrent connections (connections over it are closed at once).
//! One shutdown signal drains both: they stop accepting and finish in-flight requests.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::{Control, Handle, Server};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::web_config::LimitsConfig;

/// What to serve where.
pub struct Serve {
    pub main: TcpListener,
    pub app: Router,
    /// Terminate TLS on the main listener with this configuration.
    pub tls: Option<RustlsConfig>,
    /// The plain-HTTP redirect listener and its application.
    pub redirect: Option<(TcpListener, Router)>,
}

/// Serves until `shutdown` completes, then lets in-flight requests finish on both listeners.
pub async fn serve(
    what: Serve,
    limits: &LimitsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let control = Control::new();
    let trigger = control.clone();
    let signal = tokio::spawn(async move {
        shutdown.await;
        trigger.graceful_shutdown(None);
    });
    let header_timeout = Duration::from_secs(limits.header_read_timeout);
    let main_limit = ConnectionLimit::new(limits.max_connections);
    let main = configure(server(what.main, &control)?, limits);
    let app = what.app.into_make_service_with_connect_info::<SocketAddr>();
    let main = async move {
        match what.tls {
            Some(tls) => {
                let acceptor = RustlsAcceptor::new(tls).handshake_timeout(header_timeout).acceptor(main_limit);
                main.acceptor(acceptor).serve(app).await
            }
            None => main.acceptor(main_limit).serve(app).await,
        }
    };
    let redirect = match what.redirect {
        Some((listener, router)) => {
            let server = configure(server(listener, &control)?, limits);
            let limit = ConnectionLimit::new(limits.max_connections);
            Some(async move { server.acceptor(limit).serve(router.into_make_service()).await })
        }
        None => None,
    };
    let served = match redirect {
        Some(redirect) => tokio::try_join!(main, redirect).map(|_| ()),
        None => main.await,
    };
    signal.abort();
    served.context("server failed")
}

fn server(listener: TcpListener, control: &Control) -> anyhow::Result<Server<SocketAddr>> {
    let server = axum_server::from_tcp(listener.into_std()?)?;
    Ok(server.handle(Handle::with_control(control.clone())))
}

fn configure<A>(mut server: Server<SocketAddr, A>, limits: &LimitsConfig) -> Server<SocketAddr, A> {
    let header_timeout = Duration::from_secs(limits.header_read_timeout);
    let builder = server.http_builder();
    builder
        .http1()
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        .header_read_timeout(header_timeout);
    builder.http2().max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    // Also bounds the protocol detection before hyper's own header timer starts.
    server.first_request_timeout(header_timeout)
}

/// Closes connections beyond `max` at once (instead of queueing them where a client would
/// wait without an answer); each open connection holds one permit until it closes.
#[derive(Clone)]
pub struct ConnectionLimit {
    permits: Arc<Semaphore>,
}

impl ConnectionLimit {
    pub fn new(max: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(max)) }
    }
}

impl<I, S> Accept<I, S> for ConnectionLimit {
    type Stream = Limited<I>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Limited<I>, S)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        std::future::ready(match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Ok((Limited { inner: stream, _permit: permit }, service)),
            Err(_) => {
                // Dropping the stream closes the connection.
                drop(stream);
                metrics::counter!("gatehouse_connections_refused_total").increment(1);
                tracing::debug!("connection limit reached; connection closed");
                Err(io::Error::other("connection limit reached"))
            }
        })
    }
}

/// A connection that gives its permit back when it closes.
pub struct Limited<I> {
    inner: I,
    _permit: OwnedSemaphorePermit,
}

impl<I: AsyncRead + Unpin> AsyncRead for Limited<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Limited<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

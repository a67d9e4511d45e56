//! A TCP forwarder a test can cut: `server -> Forwarder -> PostgreSQL`. [`Forwarder::cut`] closes
//! the listener (new connections are refused) and drops every forwarded connection (the server
//! sees its sockets die, as when the database goes away); [`Forwarder::restore`] listens again
//! on the same port. It simulates a database outage without touching the shared PostgreSQL.
//!
//! Reusable by any test target: `#[path = "../support/forwarder.rs"] mod forwarder;`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Forwarder {
    /// Where clients connect.
    pub addr: SocketAddr,
    target: SocketAddr,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Forwarder {
    /// Listens on a free loopback port and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the forwarder");
        let addr = listener.local_addr().expect("forwarder address");
        let mut f = Self { addr, target, accept: None, connections: Arc::default() };
        f.accept = Some(f.serve(listener));
        f
    }

    fn serve(&self, listener: TcpListener) -> JoinHandle<()> {
        let (target, connections) = (self.target, self.connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().expect("connections").push(task);
            }
        })
    }

    /// The outage: refuse new connections and drop the forwarded ones.
    pub async fn cut(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            let _ = accept.await;
        }
        let tasks: Vec<_> = self.connections.lock().expect("connections").drain(..).collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }

    /// The database is back: listen again on the same port.
    pub async fn restore(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("the forwarder's port is free again");
        self.accept = Some(self.serve(listener));
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        for task in self.connections.lock().map(|mut c| c.drain(..).collect::<Vec<_>>()).unwrap_or_default() {
            task.abort();
        }
    }
}

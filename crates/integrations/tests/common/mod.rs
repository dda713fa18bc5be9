//! Peers that misbehave, for the failure paths the sandboxes do not cover.
#![allow(dead_code)]

use std::net::SocketAddr;

use axum::Router;

pub fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Accepts connections and never answers: a provider that hangs.
pub async fn spawn_silent_peer() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(localhost()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// A closed port: bound, then dropped.
pub async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(localhost()).await.unwrap();
    listener.local_addr().unwrap()
}

/// Serves `router` on a free port.
pub async fn spawn_router(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(localhost()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

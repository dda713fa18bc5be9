//! The app-wide access token for server APIs such as getuserphonenumber.
//!
//! Cached in memory until shortly before WeChat's `expires_in` (7200 s in practice).
//! Every `/cgi-bin/token` call mints a new token and counts against a daily quota, so
//! the lock is held across the fetch: concurrent phone bindings wait for one request
//! instead of each fetching its own. Several servers each keep their own token; WeChat
//! keeps the previous token valid for a while after a new one is issued.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::WxLoginError;

#[derive(Default)]
pub(crate) struct TokenCache {
    slot: Mutex<Option<Cached>>,
}

struct Cached {
    token: String,
    refresh_at: Instant,
}

impl TokenCache {
    /// The cached token, or a fresh one from `fetch` (which yields token and `expires_in`).
    pub(crate) async fn get_or_fetch<F, Fut>(&self, fetch: F) -> Result<String, WxLoginError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, u64), WxLoginError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(cached) = slot.as_ref().filter(|c| Instant::now() < c.refresh_at) {
            return Ok(cached.token.clone());
        }
        // Measured from before the request, so network time only shortens the lifetime.
        let asked_at = Instant::now();
        let (token, expires_in) = fetch().await?;
        *slot = Some(Cached { token: token.clone(), refresh_at: asked_at + usable_for(expires_in) });
        Ok(token)
    }

    /// Forgets `token` after WeChat called it invalid (40001/42001), unless another caller
    /// already replaced it.
    pub(crate) async fn invalidate(&self, token: &str) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|c| c.token == token) {
            *slot = None;
        }
    }
}

/// How long to use a token that WeChat says lives `expires_in` seconds: refresh five
/// minutes early (a fifth early for short lifetimes) so no request carries a token that
/// expires in flight.
pub(crate) fn usable_for(expires_in: u64) -> Duration {
    let margin = (expires_in / 5).min(300);
    Duration::from_secs(expires_in - margin)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn refreshes_before_expiry() {
        assert_eq!(usable_for(7200), Duration::from_secs(6900));
        assert_eq!(usable_for(100), Duration::from_secs(80));
        assert_eq!(usable_for(0), Duration::ZERO);
    }

    #[tokio::test]
    async fn caches_until_refresh_time_and_after_invalidation_fetches_again() {
        let cache = TokenCache::default();
        let fetches = AtomicUsize::new(0);
        let fetch = |ttl: u64| {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            async move { Ok((format!("t{n}"), ttl)) }
        };
        assert_eq!(cache.get_or_fetch(|| fetch(7200)).await.unwrap(), "t0");
        assert_eq!(cache.get_or_fetch(|| fetch(7200)).await.unwrap(), "t0");
        cache.invalidate("t0").await;
        assert_eq!(cache.get_or_fetch(|| fetch(0)).await.unwrap(), "t1");
        // A zero lifetime is never reused.
        assert_eq!(cache.get_or_fetch(|| fetch(7200)).await.unwrap(), "t2");
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failed_fetch_caches_nothing() {
        let cache = TokenCache::default();
        let err = cache.get_or_fetch(|| async { Err(WxLoginError::Busy) }).await.unwrap_err();
        assert_eq!(err, WxLoginError::Busy);
        assert_eq!(cache.get_or_fetch(|| async { Ok(("ok".to_owned(), 60)) }).await.unwrap(), "ok");
    }
}

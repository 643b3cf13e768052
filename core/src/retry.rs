//! Retry policy: exponential backoff with full jitter, bounded by attempts and time.
//!
//! The clients retry connection errors, timeouts and the statuses listed in
//! [`is_retryable_status`]. Writes are retried too: the endpoints used by this
//! crate have PUT semantics (writing the same policy, mount or key twice gives
//! the same result), so repeating a write whose answer was lost is safe. A
//! repeated `enable_mount` can answer "already in use"; callers that care treat
//! [`crate::Error::is_conflict`] as success after checking the mount.

use std::time::Duration;

use crate::error::Product;

/// How often and how long a client retries a failing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first one; `1` disables retries.
    pub max_attempts: u32,
    /// Upper bound of the first backoff; it doubles with every retry.
    pub base_delay: Duration,
    /// Upper bound of any single backoff.
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first attempt
    /// (or would pass during the backoff).
    pub total_budget: Duration,
}

impl Default for RetryPolicy {
    /// 6 attempts, 200 ms base delay, 5 s maximum delay, 60 s budget.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            total_budget: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that makes exactly one attempt.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The ceiling of the backoff before retry number `retry` (0 for the first retry):
    /// `min(max_delay, base_delay * 2^retry)`.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The backoff before retry number `retry` with full jitter: uniform in `[0, ceiling]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.backoff_ceiling(retry);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

/// `true` if an answer with this status is worth retrying.
///
/// All products: 429, 500, 502, 503 (Vault sealed), 504. Consul and Nomad
/// answer "No cluster leader" with 500. Vault only: 472 and 473 (DR and
/// performance standby health codes). Other 4xx statuses are never retried.
pub fn is_retryable_status(product: Product, status: u16) -> bool {
    match status {
        429 | 500 | 502 | 503 | 504 => true,
        472 | 473 => product == Product::Vault,
        _ => false,
    }
}

/// `true` if a transport error is worth retrying (connection, timeout, reset).
///
/// TLS errors (an untrusted certificate, a wrong host name) are not retried:
/// they do not go away by waiting.
pub(crate) fn is_retryable_transport(e: &reqwest::Error) -> bool {
    if e.is_builder() || e.is_redirect() || e.is_status() {
        return false;
    }
    !is_tls_failure(e)
}

/// `true` if a rustls error (untrusted certificate, wrong name, ...) caused `e`.
pub(crate) fn is_tls_failure(e: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if is_tls_error(c) {
            return true;
        }
        cause = c.source();
    }
    false
}

/// `true` if `e` is a rustls error, possibly wrapped in (nested) `io::Error`s,
/// whose `source()` skips the wrapped error.
fn is_tls_error(mut e: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        match e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => e = inner,
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff_ceiling(0), Duration::from_millis(200));
        assert_eq!(p.backoff_ceiling(1), Duration::from_millis(400));
        assert_eq!(p.backoff_ceiling(4), Duration::from_millis(3200));
        assert_eq!(p.backoff_ceiling(5), Duration::from_secs(5));
        assert_eq!(p.backoff_ceiling(100), Duration::from_secs(5));
        for retry in 0..10 {
            assert!(p.backoff(retry) <= p.backoff_ceiling(retry));
        }
    }

    #[test]
    fn retryable_statuses() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(Product::Consul, s));
        }
        assert!(is_retryable_status(Product::Vault, 473));
        assert!(!is_retryable_status(Product::Nomad, 473));
        for s in [400, 403, 404, 405, 409, 412, 501] {
            assert!(!is_retryable_status(Product::Vault, s));
        }
    }
}

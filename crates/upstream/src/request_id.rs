//! The id of the request being served, carried to every upstream call it causes.
//!
//! The gateway runs each request (and each outbox delivery, with the id of the request
//! that queued it) inside [`scope`]; every client face passes its request builders
//! through the kit ([`crate::client`]), which adds `X-Request-Id` to every call when an
//! id is in scope. A task-local rather than a parameter, so the `Helpdesk` trait and
//! every client face keep their signatures; work spawned onto another task is
//! re-scoped with [`current`].

use std::future::Future;
use std::sync::Arc;

/// The header the id travels in, both ways.
pub const HEADER: &str = "x-request-id";

/// The longest id accepted from a client; a longer one is replaced.
pub const MAX_LEN: usize = 128;

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// Run `work` with `id` as the current request id.
pub async fn scope<F: Future>(id: Arc<str>, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// Run `work` with `id` (if any) as the current request id.
pub async fn scope_opt<F: Future>(id: Option<Arc<str>>, work: F) -> F::Output {
    match id {
        Some(id) => REQUEST_ID.scope(id, work).await,
        None => work.await,
    }
}

/// Run blocking `work` with `id` (if any) as the current request id.
pub fn sync_scope<R>(id: Option<Arc<str>>, work: impl FnOnce() -> R) -> R {
    match id {
        Some(id) => REQUEST_ID.sync_scope(id, work),
        None => work(),
    }
}

/// The current request id, if the caller runs inside [`scope`].
pub fn current() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

/// Whether a client's id may be used as it is: 1 to [`MAX_LEN`] characters, each a
/// letter, a digit or one of `-_.:@+=/`. Anything else (spaces, quotes, control
/// characters, non-ASCII) could garble a log line or a header upstream, so it is
/// replaced by a generated id.
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@+=/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bounded_safe_ids_are_valid() {
        assert!(is_valid("abc-123_x.y:z@h+1=2/3"));
        assert!(is_valid(&"a".repeat(MAX_LEN)));
        assert!(!is_valid(&"a".repeat(MAX_LEN + 1)));
        assert!(!is_valid(""));
        assert!(!is_valid("a b"));
        assert!(!is_valid("a\"b"));
        assert!(!is_valid("a\nb"));
        assert!(!is_valid("é"));
    }

    #[tokio::test]
    async fn the_id_is_seen_inside_its_scope_only() {
        assert!(current().is_none());
        let seen = scope(Arc::from("r-1"), async { current() }).await;
        assert_eq!(seen.as_deref(), Some("r-1"));
        let inner = scope_opt(None, async { current() }).await;
        assert!(inner.is_none());
        let blocking = sync_scope(Some(Arc::from("r-2")), current);
        assert_eq!(blocking.as_deref(), Some("r-2"));
    }
}

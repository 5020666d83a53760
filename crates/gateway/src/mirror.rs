//! Cutover without downtime: `[routing.mirror]`.
//!
//! While a helpdesk is being replaced, every write to a ticket of either upstream goes
//! to the `primary` and, once the primary took it, to the `secondary`; reads come from
//! the primary only. The caller's answer is always the primary's: a secondary that
//! fails never fails the request. Such a failure is logged, counted
//! (`ticketgate_mirror_writes_total{operation,outcome="failed"}`) and recorded in the
//! migration's progress (`copied`: the pair marked `partial`, or `failed` without a
//! copy), so `ticketgate migrate --from PRIMARY --to SECONDARY` catches the secondary
//! up. Where the secondary's answer differs from the primary's in a field both hold
//! (subject, status, priority), the difference is logged and counted
//! (`ticketgate_mirror_mismatches_total{field}`).
//!
//! The two copies of a ticket are a pair in `copied`, whichever made it: a migration
//! done before mirroring, or a create while mirroring (recorded as a migration's copy
//! is, with the id map pointed at the copy). So when the operator swaps `primary` and
//! `secondary`, every id a client holds still names the same ticket: an id that leads
//! to the secondary's copy is served by its pair on the primary.

use crate::config::Config;
use crate::gateway::Gateway;
use crate::upstream::Shielded;
use std::future::Future;
use std::sync::Arc;
use ticketgate_model::{Helpdesk, NewTicket, Result, Ticket};
use ticketgate_store::CopyRecord;

/// The names of the mirror's two upstreams, when mirroring.
pub fn names(config: &Config) -> Option<(String, String)> {
    config
        .routing
        .mirror
        .as_ref()
        .map(|m| (m.primary.clone(), m.secondary.clone()))
}

/// The fields in which the secondary's answer differs from the primary's, of those
/// both helpdesks hold the same way.
pub fn mismatches(primary: &Ticket, secondary: &Ticket) -> Vec<&'static str> {
    let mut out = Vec::new();
    if primary.subject.trim() != secondary.subject.trim() {
        out.push("subject");
    }
    if primary.status.state != secondary.status.state {
        out.push("status");
    }
    if let (Some(a), Some(b)) = (&primary.priority, &secondary.priority)
        && a.level != b.level
    {
        out.push("priority");
    }
    out
}

/// The key a copy of `primary`'s ticket `id` is created with on `secondary`: the one
/// `ticketgate migrate` uses, so an upstream that recognises keys never makes a
/// second copy when the migration catches up a create whose answer was lost.
pub fn copy_key(primary: &str, secondary: &str, id: &str) -> String {
    format!("migrate:{primary}:{secondary}:{id}")
}

impl Gateway {
    /// The mirror's primary and secondary upstreams, when mirroring.
    pub fn mirror(&self) -> Option<(Arc<Shielded>, Arc<Shielded>)> {
        let (p, s) = names(&self.config())?;
        Some((
            self.upstreams.get(&p)?.clone(),
            self.upstreams.get(&s)?.clone(),
        ))
    }

    /// Where a ticket found at `upstream`/`id` is served from: its pair on the primary
    /// when it is the secondary's copy, else where it is.
    pub async fn serving(
        &self,
        upstream: Arc<Shielded>,
        id: String,
    ) -> Result<(Arc<Shielded>, String)> {
        if let Some((p, s)) = self.mirror()
            && upstream.name() == s.name()
            && let Some(pid) = self.state.copy_pair(s.name(), &id, p.name()).await?
        {
            return Ok((p, pid));
        }
        Ok((upstream, id))
    }

    fn mirror_failed(&self, op: &'static str, primary: &str, secondary: &str, id: &str) {
        self.metrics.mirror_write(op, "failed");
        tracing::debug!(
            operation = op,
            primary,
            secondary,
            ticket = id,
            "mirror write failed"
        );
    }

    /// Record that the secondary missed a write to `primary`'s ticket `id`, so the
    /// next `ticketgate migrate --from PRIMARY --to SECONDARY` catches it up.
    async fn record_missed(
        &self,
        primary: &str,
        secondary: &str,
        id: &str,
        copy: Option<String>,
        reason: String,
    ) {
        let outcome = if copy.is_some() { "partial" } else { "failed" };
        let record = CopyRecord {
            source_id: id.to_owned(),
            outcome: outcome.into(),
            target_id: copy,
            reason: Some(reason),
        };
        if let Err(e) = self.state.record_copy(primary, secondary, record).await {
            tracing::error!(error = %e, primary, secondary, ticket = id,
                "a missed mirror write could not be recorded: run `ticketgate migrate --from {primary} --to {secondary}` to catch up");
        }
    }

    /// Mirror a create the primary took (`created`) onto the secondary, and record the
    /// pair. (A create already runs to its end when its caller goes away.)
    pub async fn mirror_create(
        &self,
        primary: &Arc<Shielded>,
        secondary: &Arc<Shielded>,
        ticket: NewTicket,
        created: &Ticket,
    ) {
        let gw = self;
        let (p, s) = (primary.clone(), secondary.clone());
        let answer = created.clone();
        {
            let key = copy_key(p.name(), s.name(), &answer.id);
            match s.create_idempotent(ticket, &key).await {
                Ok(copy) => {
                    gw.metrics.mirror_write("create", "mirrored");
                    gw.count_mismatches("create", &answer, &copy, p.name(), s.name());
                    let paired = async {
                        gw.state
                            .id_moved(p.name(), &answer.id, &answer.number, s.name(), &copy.id)
                            .await?;
                        gw.state
                            .record_copy(
                                p.name(),
                                s.name(),
                                CopyRecord {
                                    source_id: answer.id.clone(),
                                    outcome: "copied".into(),
                                    target_id: Some(copy.id.clone()),
                                    reason: Some("mirrored".into()),
                                },
                            )
                            .await
                    };
                    if let Err(e) = paired.await {
                        tracing::error!(error = %e, primary = p.name(), secondary = s.name(), ticket = %answer.id,
                            "the mirrored copy could not be recorded");
                    }
                }
                Err(e) => {
                    gw.mirror_failed("create", p.name(), s.name(), &answer.id);
                    tracing::warn!(error = %e, primary = p.name(), secondary = s.name(), ticket = %answer.id,
                        retryable = e.retryable,
                        "the secondary did not take a mirrored create; recorded for `ticketgate migrate` to copy");
                    gw.record_missed(
                        p.name(),
                        s.name(),
                        &answer.id,
                        None,
                        format!("mirrored create failed: {e}"),
                    )
                    .await;
                }
            }
        }
    }

    fn count_mismatches(
        &self,
        op: &'static str,
        primary: &Ticket,
        secondary: &Ticket,
        p: &str,
        s: &str,
    ) {
        let fields = mismatches(primary, secondary);
        for f in &fields {
            self.metrics.mirror_mismatch(f);
        }
        if !fields.is_empty() {
            tracing::warn!(operation = op, primary = p, secondary = s, ticket = %primary.id,
                copy = %secondary.id, fields = ?fields, "the secondary's answer differs from the primary's");
        }
    }

    /// After the primary took a write to its ticket `id` (answering `answer`, when
    /// the write answers a ticket), apply it to the secondary's copy with `write`.
    /// Never fails: what the secondary misses is logged, counted and recorded for
    /// `ticketgate migrate` to catch up. Runs to its end even when the caller goes away.
    pub async fn mirror_write<F, Fut>(
        self: &Arc<Self>,
        op: &'static str,
        upstream: &str,
        id: &str,
        answer: Option<Ticket>,
        write: F,
    ) where
        F: FnOnce(Arc<Shielded>, String) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<Ticket>>> + Send + 'static,
    {
        let Some((p, s)) = self.mirror() else {
            return;
        };
        if upstream != p.name() {
            return;
        }
        let gw = self.clone();
        let id = id.to_owned();
        let task = tokio::spawn(async move {
            let copy = match gw.state.copy_pair(p.name(), &id, s.name()).await {
                Ok(c) => c,
                Err(e) => {
                    gw.mirror_failed(op, p.name(), s.name(), &id);
                    tracing::warn!(error = %e, operation = op, ticket = %id, "the mirror's pair could not be read");
                    return;
                }
            };
            let Some(copy) = copy else {
                gw.metrics.mirror_write(op, "unpaired");
                tracing::warn!(operation = op, primary = p.name(), secondary = s.name(), ticket = %id,
                    "a ticket with no copy on the secondary was written; recorded for `ticketgate migrate` to copy");
                gw.record_missed(
                    p.name(),
                    s.name(),
                    &id,
                    None,
                    format!("written ({op}) while mirroring, before it had a copy"),
                )
                .await;
                return;
            };
            match write(s.clone(), copy.clone()).await {
                Ok(theirs) => {
                    gw.metrics.mirror_write(op, "mirrored");
                    if let (Some(ours), Some(theirs)) = (&answer, &theirs) {
                        gw.count_mismatches(op, ours, theirs, p.name(), s.name());
                    }
                }
                Err(e) => {
                    gw.mirror_failed(op, p.name(), s.name(), &id);
                    tracing::warn!(error = %e, operation = op, primary = p.name(), secondary = s.name(),
                        ticket = %id, copy = %copy, retryable = e.retryable,
                        "the secondary did not take a mirrored write; recorded for `ticketgate migrate` to catch up");
                    gw.record_missed(
                        p.name(),
                        s.name(),
                        &id,
                        Some(copy),
                        format!("mirrored {op} failed: {e}"),
                    )
                    .await;
                }
            }
        });
        let _ = task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(subject: &str, state: &str, priority: &str) -> Ticket {
        serde_json::from_value(serde_json::json!({
            "id": "1", "number": "1", "subject": subject, "body": {"format": "text", "content": "b"},
            "status": {"state": state}, "priority": {"level": priority},
            "requester": {"email": "a@example.com"},
            "created_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z"
        }))
        .expect("a ticket")
    }

    #[test]
    fn mismatches_name_the_fields_both_hold_that_differ() {
        let a = ticket("Printer", "open", "high");
        assert!(mismatches(&a, &ticket(" Printer ", "open", "high")).is_empty());
        assert_eq!(
            mismatches(&a, &ticket("Printer!", "resolved", "low")),
            vec!["subject", "status", "priority"]
        );
        let mut none = ticket("Printer", "open", "high");
        none.priority = None;
        assert!(mismatches(&a, &none).is_empty());
    }

    #[test]
    fn check_refuses_a_mirror_that_cannot_work() {
        let base = "[upstreams.local]\nkind = \"embedded\"\n[upstreams.new]\nkind = \"ticketgate\"\nurl = \"http://127.0.0.1:1/v1\"\nbearer_key = \"k\"\n\
                    [upstreams.ost]\nkind = \"osticket\"\nurl = \"http://127.0.0.1:1\"\napi_key = \"k\"\nmode = \"core\"\n\
                    [routing]\ndefault = \"local\"\n";
        let parse = |extra: &str| Config::parse(&format!("{base}{extra}"), &|_| None);
        let err = |extra: &str| parse(extra).expect_err("the mirror must be refused");
        assert!(
            err("[routing.mirror]\nprimary = \"local\"\nsecondary = \"nowhere\"\n")
                .contains("routing.mirror.secondary names upstream \"nowhere\"")
        );
        assert!(
            err("[routing.mirror]\nprimary = \"local\"\nsecondary = \"local\"\n")
                .contains("onto itself")
        );
        assert!(
            err("[routing.mirror]\nprimary = \"local\"\nsecondary = \"ost\"\n")
                .contains("can only create")
        );
        assert!(
            err("[routing.mirror]\nprimary = \"local\"\nsecondary = \"new\"\nwhat = 1\n")
                .contains("unknown field")
        );
        // The id map and the pairs live in either state backend.
        parse("[state]\nbackend = \"postgres\"\nurl = \"postgres://u@127.0.0.1/db\"\n[routing.mirror]\nprimary = \"local\"\nsecondary = \"new\"\n")
            .expect("a mirror over the PostgreSQL state is accepted");
        let ok = parse("[routing.mirror]\nprimary = \"new\"\nsecondary = \"local\"\n")
            .expect("a mirror between two upstreams that can do everything is valid");
        assert_eq!(names(&ok), Some(("new".into(), "local".into())));
    }
}

//! `ticketgate migrate --from A --to B`: copy tickets from one upstream to another
//! through the canonical model, and point the id map at the copies.
//!
//! Each ticket is read whole from A (thread, attachments), created on B with its
//! requester, cc, priority, category, department, custom fields and attachments, its
//! thread entries added in order, then its status set. What was done is recorded in
//! the gateway state ticket by ticket (`copied`), so a run that is killed resumes
//! where it stopped: a ticket already copied is skipped, and one cut off half-way is
//! finished on the copy it already has (the create carries a key that is the same on
//! every run, which the embedded store and a chained ticketgate recognise; entries
//! already on the copy are not added twice). Once a ticket is copied, every id and
//! number clients knew it by names the copy.
//!
//! Names are carried, not ids (the two helpdesks number their departments apart). A
//! field B refuses as unknown (a department it does not have) is dropped and the copy
//! made without it; the summary says so.

use crate::gateway::Gateway;
use crate::upstream::Shielded;
use std::sync::Arc;
use ticketgate_model::{
    Closure, Error, ErrorKind, Helpdesk, NewEntry, NewTicket, Query, Reference, Resolution, Result,
    SortField, SortOrder, State, Ticket, TicketPatch,
};
use ticketgate_store::CopyRecord;

/// What to migrate.
#[derive(Debug, Clone)]
pub struct Plan {
    pub from: String,
    pub to: String,
    /// Only tickets created at or after this.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Count what would be copied; change nothing.
    pub dry_run: bool,
}

/// How one ticket went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Copied now, to this id; with the fields left behind, if any.
    Copied {
        to: String,
        dropped: Vec<String>,
    },
    /// Copied by an earlier run.
    AlreadyCopied,
    /// Would be copied (dry run).
    WouldCopy,
    Failed(String),
}

/// The run's totals.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub seen: u64,
    pub copied: u64,
    pub skipped: u64,
    pub would_copy: u64,
    /// (source id, reason)
    pub failed: Vec<(String, String)>,
    /// (source id, what was dropped)
    pub notes: Vec<(String, String)>,
}

const PAGE: u32 = 100;

/// Run the plan; `report` hears of each ticket as it is done (source id, outcome,
/// how many seen so far, the total if known).
pub async fn run(
    gateway: &Gateway,
    plan: &Plan,
    mut report: impl FnMut(&str, &Outcome, u64, u64),
) -> Result<Summary> {
    if plan.from == plan.to {
        return Err(Error::bad_input("--from and --to name the same upstream"));
    }
    let from = upstream(gateway, &plan.from, "--from")?;
    let to = upstream(gateway, &plan.to, "--to")?;
    let done: std::collections::HashMap<String, CopyRecord> = gateway
        .state
        .copied(&plan.from, &plan.to)
        .await?
        .into_iter()
        .map(|r| (r.source_id.clone(), r))
        .collect();
    let mut summary = Summary::default();
    let mut offset = 0;
    loop {
        let page = from
            .search(&Query {
                created_after: plan.since,
                sort: SortField::Created,
                order: SortOrder::Asc,
                offset,
                limit: PAGE,
                ..Query::default()
            })
            .await?;
        let total = page.total;
        if page.items.is_empty() {
            break;
        }
        offset += page.items.len() as u32;
        for summary_ticket in page.items {
            let id = summary_ticket.id.clone();
            summary.seen += 1;
            let previous = done.get(&id);
            let outcome = if previous.is_some_and(|r| r.outcome == "copied") {
                Outcome::AlreadyCopied
            } else if plan.dry_run {
                Outcome::WouldCopy
            } else {
                let partial = previous.and_then(|r| r.target_id.clone());
                match copy_one(gateway, plan, &from, &to, &id, partial).await {
                    Ok((to_id, dropped)) => Outcome::Copied { to: to_id, dropped },
                    Err(e) => {
                        let reason = e.to_string();
                        gateway
                            .state
                            .record_copy(
                                &plan.from,
                                &plan.to,
                                CopyRecord {
                                    source_id: id.clone(),
                                    outcome: "failed".into(),
                                    target_id: previous.and_then(|r| r.target_id.clone()),
                                    reason: Some(reason.clone()),
                                },
                            )
                            .await?;
                        Outcome::Failed(reason)
                    }
                }
            };
            match &outcome {
                Outcome::Copied { dropped, .. } => {
                    summary.copied += 1;
                    if !dropped.is_empty() {
                        summary.notes.push((id.clone(), dropped.join("; ")));
                    }
                }
                Outcome::AlreadyCopied => summary.skipped += 1,
                Outcome::WouldCopy => summary.would_copy += 1,
                Outcome::Failed(reason) => summary.failed.push((id.clone(), reason.clone())),
            }
            report(&id, &outcome, summary.seen, total.max(summary.seen));
        }
        if u64::from(offset) >= total && page.total_exact {
            break;
        }
    }
    Ok(summary)
}

fn upstream(gateway: &Gateway, name: &str, flag: &str) -> Result<Arc<Shielded>> {
    gateway.upstreams.get(name).cloned().ok_or_else(|| {
        let mut known: Vec<&str> = gateway.upstreams.keys().map(String::as_str).collect();
        known.sort();
        Error::bad_input(format!(
            "{flag} names upstream {name:?}, which is not defined; the upstreams are {}",
            known.join(", ")
        ))
    })
}

fn by_name(r: &Option<Reference>) -> Option<Reference> {
    r.as_ref().and_then(|r| r.name.clone()).map(Reference::name)
}

/// The canonical create that makes a copy of `t` (its status comes after the thread).
fn new_ticket(t: &Ticket) -> NewTicket {
    NewTicket {
        subject: t.subject.clone(),
        body: t.body.clone(),
        requester: t.requester.clone(),
        cc: t.cc.clone(),
        priority: t.priority.as_ref().map(|p| {
            Reference::name(
                p.name
                    .clone()
                    .unwrap_or_else(|| p.level.as_str().to_owned()),
            )
        }),
        urgency: t.urgency,
        impact: t.impact,
        ticket_type: t.ticket_type,
        category: by_name(&t.category),
        topic: by_name(&t.topic),
        department: by_name(&t.department),
        group: by_name(&t.group),
        team: by_name(&t.team),
        location: by_name(&t.location),
        entity: by_name(&t.entity),
        sla: by_name(&t.sla),
        due_at: t.due_at,
        source: t.source,
        client_ip: t.client_ip.clone(),
        attachments: t.attachments.clone(),
        custom_fields: t.custom_fields.clone(),
        email: t.email.clone(),
        alert: Some(false),
        autorespond: Some(false),
        ..NewTicket::default()
    }
}

/// Drop the field a refusal names, if it is one a copy can do without.
fn drop_field(t: &mut NewTicket, field: &str) -> bool {
    let f = field.to_ascii_lowercase();
    let slot = |name: &str| f == name || f.starts_with(&format!("{name}."));
    macro_rules! clear {
        ($($name:literal => $field:ident),*) => {
            $(if slot($name) && t.$field.is_some() { t.$field = None; return true; })*
        };
    }
    clear!("priority" => priority, "category" => category, "topic" => topic,
        "department" => department, "group" => group, "team" => team,
        "location" => location, "entity" => entity, "sla" => sla,
        "due_at" => due_at, "type" => ticket_type, "ticket_type" => ticket_type,
        "assignee" => assignee, "urgency" => urgency, "impact" => impact);
    if (slot("custom_fields") || f.starts_with("custom")) && !t.custom_fields.is_empty() {
        t.custom_fields.clear();
        return true;
    }
    false
}

async fn copy_one(
    gateway: &Gateway,
    plan: &Plan,
    from: &Shielded,
    to: &Shielded,
    id: &str,
    partial: Option<String>,
) -> Result<(String, Vec<String>)> {
    let source = from.get(id).await?;
    let mut dropped = Vec::new();
    // The same key on every run: an upstream that recognises it answers the ticket it
    // made the first time instead of a second one.
    let key = format!("migrate:{}:{}:{id}", plan.from, plan.to);
    let copy = match partial {
        Some(target) => catch_up(to, to.get(&target).await?, &source).await?,
        None => {
            let mut create = new_ticket(&source);
            let mut attempts = 0;
            loop {
                match to.create_idempotent(create.clone(), &key).await {
                    Ok(t) => break t,
                    Err(e)
                        if e.kind == ErrorKind::BadInput
                            && attempts < 16
                            && e.field
                                .as_deref()
                                .is_some_and(|f| drop_field(&mut create, f)) =>
                    {
                        attempts += 1;
                        dropped.push(format!(
                            "{}: {}",
                            e.field.as_deref().unwrap_or("?"),
                            e.message
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    };
    // Recorded before the thread is copied: a run killed from here on finishes this
    // copy instead of making another.
    gateway
        .state
        .record_copy(
            &plan.from,
            &plan.to,
            CopyRecord {
                source_id: id.to_owned(),
                outcome: "partial".into(),
                target_id: Some(copy.id.clone()),
                reason: None,
            },
        )
        .await?;
    let there: Vec<String> = copy
        .entries
        .iter()
        .map(|e| e.body.content.trim().to_owned())
        .collect();
    for entry in &source.entries {
        if there.iter().any(|b| *b == entry.body.content.trim()) {
            continue;
        }
        let new = NewEntry {
            kind: entry.kind,
            body: entry.body.clone(),
            author: entry.author.clone(),
            attachments: entry.attachments.clone(),
            email: entry.email.clone(),
            reopen: false,
        };
        to.add_entry(&copy.id, new).await?;
    }
    set_state(to, &copy.id, &source, &mut dropped).await?;
    gateway
        .state
        .id_moved(&plan.from, id, &source.number, &plan.to, &copy.id)
        .await?;
    gateway
        .state
        .record_copy(
            &plan.from,
            &plan.to,
            CopyRecord {
                source_id: id.to_owned(),
                outcome: "copied".into(),
                target_id: Some(copy.id.clone()),
                reason: (!dropped.is_empty()).then(|| dropped.join("; ")),
            },
        )
        .await?;
    Ok((copy.id, dropped))
}

/// A copy made earlier (by a run cut off half-way, or by the mirror before a write
/// it missed) takes the source's subject and priority where they differ; its thread
/// and status are caught up by the caller.
async fn catch_up(to: &Shielded, copy: Ticket, source: &Ticket) -> Result<Ticket> {
    let mut patch = TicketPatch::default();
    let mut changed = false;
    if copy.subject.trim() != source.subject.trim() {
        patch.subject = Some(source.subject.clone());
        changed = true;
    }
    if let Some(p) = &source.priority
        && copy.priority.as_ref().is_none_or(|c| c.level != p.level)
    {
        patch.priority = Some(match &p.name {
            Some(n) => Reference::name(n.clone()),
            None => Reference::name(p.level.as_str()),
        });
        changed = true;
    }
    if !changed {
        return Ok(copy);
    }
    match to.update(&copy.id, patch).await {
        Ok(t) => Ok(t),
        Err(e) if matches!(e.kind, ErrorKind::BadInput | ErrorKind::Unsupported) => Ok(copy),
        Err(e) => Err(e),
    }
}

/// Give the copy the source's status: by name when the target knows it, else by
/// its canonical state (resolve, close).
async fn set_state(
    to: &Shielded,
    id: &str,
    source: &Ticket,
    dropped: &mut Vec<String>,
) -> Result<()> {
    let state = source.status.state;
    if matches!(state, State::New) {
        return Ok(());
    }
    if let Some(name) = &source.status.name {
        let patch = TicketPatch {
            status: Some(Reference::name(name.clone())),
            ..TicketPatch::default()
        };
        match to.update(id, patch).await {
            Ok(t) if t.status.state == state => return Ok(()),
            Ok(_) => {}
            Err(e) if matches!(e.kind, ErrorKind::BadInput | ErrorKind::Unsupported) => {}
            Err(e) => return Err(e),
        }
    }
    let done = match state {
        State::Resolved => to.resolve(id, Resolution::default()).await.map(|_| ()),
        State::Closed | State::Archived => to.close(id, Closure::default()).await.map(|_| ()),
        _ => {
            dropped.push(format!(
                "status: {} is not known to the target",
                source.status.name.as_deref().unwrap_or(state.as_str())
            ));
            return Ok(());
        }
    };
    match done {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.kind, ErrorKind::BadInput | ErrorKind::Unsupported) => {
            dropped.push(format!("status: {e}"));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_field_is_dropped_once_and_others_are_not() {
        let mut t = NewTicket {
            department: Some(Reference::name("Support")),
            priority: Some(Reference::name("Normal")),
            ..NewTicket::default()
        };
        assert!(drop_field(&mut t, "department"));
        assert_eq!(t.department, None);
        assert!(!drop_field(&mut t, "department"), "nothing left to drop");
        assert!(
            !drop_field(&mut t, "requester.email"),
            "a requester is never dropped"
        );
        assert!(!drop_field(&mut t, "subject"));
        assert!(t.priority.is_some());
    }

    #[test]
    fn a_copy_carries_names_not_the_source_helpdesks_ids() {
        let t: Ticket = serde_json::from_value(serde_json::json!({
            "id": "5", "number": "100005", "subject": "s",
            "body": {"format": "text", "content": "b"},
            "requester": {"email": "a@example.com"},
            "status": {"state": "open", "name": "Open"},
            "department": {"id": "4", "name": "IT"},
            "category": {"id": "2"},
            "created_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z",
            "source": "api"
        }))
        .expect("a ticket");
        let n = new_ticket(&t);
        assert_eq!(n.department, Some(Reference::name("IT")));
        assert_eq!(
            n.category, None,
            "an id alone means nothing to another helpdesk"
        );
        assert_eq!(n.requester.email.as_deref(), Some("a@example.com"));
    }
}

//! The [`Helpdesk`] trait: the canonical operations every upstream implements.
//!
//! The embedded store implements all of them; each vendor's client face implements
//! what its vendor can do and declares it in [`Capabilities`]. An operation an
//! upstream lacks answers [`Error::unsupported`] (a 501 in the caller's dialect),
//! never a silent success — that is what the default methods do.

use crate::error::{Error, Result};
use crate::ops::{
    Assignment, Closure, DeleteMode, LookupItem, LookupKind, NewEntry, NewTicket, Page, Query,
    Resolution, Stats, StatsQuery, TicketPatch,
};
use crate::ticket::{Attachment, Document, NewTask, Task, ThreadEntry, Ticket};
use async_trait::async_trait;

/// Every canonical operation, for capability sets, permissions and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    Create,
    Get,
    Update,
    Delete,
    Purge,
    Search,
    AddEntry,
    Resolve,
    Close,
    Assign,
    Attach,
    Link,
    Unlink,
    Parent,
    Children,
    Stats,
    Lookup,
}

impl Operation {
    pub const ALL: [Operation; 17] = [
        Operation::Create,
        Operation::Get,
        Operation::Update,
        Operation::Delete,
        Operation::Purge,
        Operation::Search,
        Operation::AddEntry,
        Operation::Resolve,
        Operation::Close,
        Operation::Assign,
        Operation::Attach,
        Operation::Link,
        Operation::Unlink,
        Operation::Parent,
        Operation::Children,
        Operation::Stats,
        Operation::Lookup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Get => "get",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Purge => "purge",
            Operation::Search => "search",
            Operation::AddEntry => "add_entry",
            Operation::Resolve => "resolve",
            Operation::Close => "close",
            Operation::Assign => "assign",
            Operation::Attach => "attach",
            Operation::Link => "link",
            Operation::Unlink => "unlink",
            Operation::Parent => "parent",
            Operation::Children => "children",
            Operation::Stats => "stats",
            Operation::Lookup => "lookup",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// The set of operations an upstream supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities(u32);

impl Capabilities {
    pub const fn none() -> Self {
        Self(0)
    }

    pub fn all() -> Self {
        Self::of(&Operation::ALL)
    }

    pub fn of(ops: &[Operation]) -> Self {
        Self(ops.iter().fold(0, |acc, op| acc | op.bit()))
    }

    pub fn supports(self, op: Operation) -> bool {
        self.0 & op.bit() != 0
    }

    pub fn without(self, op: Operation) -> Self {
        Self(self.0 & !op.bit())
    }

    pub fn iter(self) -> impl Iterator<Item = Operation> {
        Operation::ALL
            .into_iter()
            .filter(move |op| self.supports(*op))
    }
}

/// A helpdesk the gateway can forward canonical operations to.
///
/// Ids are the ones this helpdesk hands out in [`Ticket::id`]. Methods that a vendor
/// lacks keep their default body, which reports the operation as unsupported.
#[async_trait]
pub trait Helpdesk: Send + Sync + 'static {
    /// A short name for logs, metrics and "not supported by …" messages.
    fn name(&self) -> &str;

    fn capabilities(&self) -> Capabilities;

    async fn create(&self, ticket: NewTicket) -> Result<Ticket>;

    /// Create, telling the upstream a key that is the same on every retry of this one
    /// create (an outbox item's tracking id, a client's idempotency key), so an upstream
    /// that can recognise a repeated delivery creates the ticket at most once even when
    /// an earlier attempt timed out after it had in fact succeeded. Upstreams with no
    /// such mechanism keep this default, and a retried delivery is at-least-once.
    async fn create_idempotent(&self, ticket: NewTicket, key: &str) -> Result<Ticket> {
        let _ = key;
        self.create(ticket).await
    }

    /// [`create_idempotent`](Self::create_idempotent) for a caller that needs only the
    /// new ticket's id and number (osTicket's core API, a canonical `Prefer:
    /// return=minimal`): an upstream that reads the ticket back to answer in full may
    /// skip that read and answer the rest as sent. The default is the full create.
    async fn create_brief(&self, ticket: NewTicket, key: &str) -> Result<Ticket> {
        self.create_idempotent(ticket, key).await
    }

    /// The full ticket with its thread entries and attachments.
    async fn get(&self, id: &str) -> Result<Ticket> {
        Err(self.unsupported(Operation::Get, id))
    }

    /// Find a ticket by the display number a human quotes.
    async fn get_by_number(&self, number: &str) -> Result<Ticket> {
        let page = self
            .search(&Query {
                number: Some(number.to_owned()),
                include_deleted: true,
                limit: 1,
                ..Query::default()
            })
            .await?;
        match page.items.into_iter().next() {
            Some(t) => self.get(&t.id).await,
            None => Err(Error::not_found(format!(
                "ticket number {number} not found"
            ))),
        }
    }

    async fn update(&self, id: &str, patch: TicketPatch) -> Result<Ticket> {
        let _ = patch;
        Err(self.unsupported(Operation::Update, id))
    }

    async fn delete(&self, id: &str, mode: DeleteMode) -> Result<()> {
        let op = match mode {
            DeleteMode::Soft => Operation::Delete,
            DeleteMode::Purge => Operation::Purge,
        };
        Err(self.unsupported(op, id))
    }

    /// Tickets matching the query, without their thread entries and attachment bytes.
    async fn search(&self, query: &Query) -> Result<Page<Ticket>> {
        let _ = query;
        Err(self.unsupported(Operation::Search, ""))
    }

    async fn add_entry(&self, id: &str, entry: NewEntry) -> Result<ThreadEntry> {
        let _ = entry;
        Err(self.unsupported(Operation::AddEntry, id))
    }

    async fn resolve(&self, id: &str, resolution: Resolution) -> Result<Ticket> {
        let _ = resolution;
        Err(self.unsupported(Operation::Resolve, id))
    }

    async fn close(&self, id: &str, closure: Closure) -> Result<Ticket> {
        let _ = closure;
        Err(self.unsupported(Operation::Close, id))
    }

    async fn assign(&self, id: &str, assignment: Assignment) -> Result<Ticket> {
        let _ = assignment;
        Err(self.unsupported(Operation::Assign, id))
    }

    async fn attach(&self, id: &str, files: Vec<Attachment>) -> Result<Vec<Attachment>> {
        let _ = files;
        Err(self.unsupported(Operation::Attach, id))
    }

    /// Keep a document, linked to `ticket` when one is given (a document of its own
    /// otherwise). Unsupported as [`Operation::Attach`] by default.
    async fn add_document(
        &self,
        title: &str,
        file: Attachment,
        ticket: Option<&str>,
    ) -> Result<Document> {
        let _ = (title, file);
        Err(self.unsupported(Operation::Attach, ticket.unwrap_or("")))
    }

    /// A document by id, with its bytes: one kept on its own or a ticket's attachment.
    async fn document(&self, id: &str) -> Result<Document> {
        Err(self.unsupported(Operation::Get, id))
    }

    /// Link a document of its own to `ticket`; a document links to one ticket.
    async fn link_document(&self, id: &str, ticket: &str) -> Result<Document> {
        let _ = ticket;
        Err(self.unsupported(Operation::Attach, id))
    }

    /// A ticket's tasks, oldest first. Unsupported as [`Operation::Get`] by default.
    async fn tasks(&self, id: &str) -> Result<Vec<Task>> {
        Err(self.unsupported(Operation::Get, id))
    }

    /// Add a task to a ticket. Unsupported as [`Operation::AddEntry`] by default.
    async fn add_task(&self, id: &str, task: NewTask) -> Result<Task> {
        let _ = task;
        Err(self.unsupported(Operation::AddEntry, id))
    }

    /// Make `child` a subticket of `parent`.
    async fn link(&self, parent: &str, child: &str) -> Result<()> {
        let _ = child;
        Err(self.unsupported(Operation::Link, parent))
    }

    async fn unlink(&self, parent: &str, child: &str) -> Result<()> {
        let _ = child;
        Err(self.unsupported(Operation::Unlink, parent))
    }

    async fn parent(&self, id: &str) -> Result<Option<Ticket>> {
        Err(self.unsupported(Operation::Parent, id))
    }

    async fn children(&self, id: &str) -> Result<Vec<Ticket>> {
        Err(self.unsupported(Operation::Children, id))
    }

    async fn stats(&self, query: &StatsQuery) -> Result<Stats> {
        let _ = query;
        Err(self.unsupported(Operation::Stats, ""))
    }

    async fn lookup(&self, kind: LookupKind) -> Result<Vec<LookupItem>> {
        let _ = kind;
        Err(self.unsupported(Operation::Lookup, ""))
    }

    /// Release upstream sessions and the like; called once at shutdown.
    async fn shutdown(&self) {}

    /// One cheap call that proves the upstream answers and accepts the gateway's
    /// credentials (`ticketgate check --probe`): what it found, or why not. By default a
    /// one-item search; an upstream that cannot search says how it checks instead.
    async fn probe(&self) -> Result<String> {
        let query = Query {
            limit: 1,
            ..Default::default()
        };
        self.search(&query)
            .await
            .map(|page| format!("ok ({} ticket(s))", page.total))
    }

    #[doc(hidden)]
    fn unsupported(&self, op: Operation, _id: &str) -> Error {
        Error::unsupported(self.name(), op.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_sets() {
        let core = Capabilities::of(&[Operation::Create]);
        assert!(core.supports(Operation::Create));
        assert!(!core.supports(Operation::Search));
        assert_eq!(Capabilities::all().iter().count(), Operation::ALL.len());
        assert!(
            !Capabilities::all()
                .without(Operation::Purge)
                .supports(Operation::Purge)
        );
    }
}

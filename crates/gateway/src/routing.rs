//! Many upstreams behind one gateway: routing rules for creates, and the id map that
//! sends every id the gateway handed out back to the upstream owning it.
//!
//! - [`choose`]: `[[routing.rules]]` in order, then the consumer's `upstream`, then
//!   `routing.default`.
//! - [`RoutedHelpdesk`]: what a dialect's server face talks to when the configuration
//!   has more than one upstream. It is a [`Helpdesk`] like any upstream, so every
//!   dialect is routed the same way. Ids are kept in one namespace per *home*
//!   upstream (the consumer's own): its ids pass through unchanged, and a ticket of
//!   another upstream gets a gateway id from the id map (`routing.id_base` + n), used
//!   as its id and its number, so plain-number dialects (osTicket numbers, ITSM-NG ids)
//!   work and no two upstreams' ids collide. See `ticketgate_store::state::idmap`.
//! - [`RoutedHelpdesk::search_paged`]: a search spanning several upstreams, merged by
//!   the requested sort and paged by offset or by the keyset cursor of `crate::cursor`.

use crate::config::{Config, RoutingRule};
use crate::gateway::Gateway;
use crate::upstream::Shielded;
use async_trait::async_trait;
use std::sync::Arc;
use ticketgate_model::{
    Assignment, Attachment, Capabilities, Closure, Consumer, DeleteMode, Error, Helpdesk,
    LookupItem, LookupKind, NewEntry, NewTicket, Page, Query, Reference, Resolution, Result,
    SearchSpread, SortField, Stats, StatsQuery, ThreadEntry, Ticket, TicketPatch, Unanswered,
};
use ticketgate_store::IdKind;

/// What a rule can see of a request besides the ticket: its dialect and headers.
#[derive(Debug, Clone, Default)]
pub struct RouteHints {
    pub dialect: Option<&'static str>,
    /// Kept only when some rule looks at a header.
    pub headers: Option<http::HeaderMap>,
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

fn reference_is(r: &Option<Reference>, want: &str) -> bool {
    r.as_ref().is_some_and(|r| {
        r.name.as_deref().is_some_and(|n| same(n, want))
            || r.id.as_deref().is_some_and(|i| same(i, want))
    })
}

/// Whether `rule` takes this create.
pub fn rule_matches(
    rule: &RoutingRule,
    consumer: &str,
    hints: &RouteHints,
    ticket: &NewTicket,
) -> bool {
    let email = ticket.requester.email.as_deref().unwrap_or("");
    let checks = [
        rule.consumer.as_deref().map(|c| c == consumer),
        rule.dialect
            .as_deref()
            .map(|d| hints.dialect.is_some_and(|h| same(h, d))),
        rule.department
            .as_deref()
            .map(|d| reference_is(&ticket.department, d)),
        rule.queue
            .as_deref()
            .map(|q| reference_is(&ticket.department, q)),
        rule.category
            .as_deref()
            .map(|c| reference_is(&ticket.category, c)),
        rule.topic
            .as_deref()
            .map(|t| reference_is(&ticket.topic, t)),
        rule.requester
            .as_deref()
            .map(|r| !email.is_empty() && same(email, r)),
        rule.requester_domain.as_deref().map(|d| {
            email
                .rsplit_once('@')
                .is_some_and(|(_, domain)| same(domain, d.trim_start_matches('@')))
        }),
        rule.header.as_ref().map(|h| {
            hints.headers.as_ref().is_some_and(|headers| {
                headers
                    .get_all(h.name.as_str())
                    .iter()
                    .any(|v| v.to_str().is_ok_and(|v| v.trim() == h.value.trim()))
            })
        }),
    ];
    !rule.is_empty() && checks.iter().all(|c| c.unwrap_or(true))
}

/// The upstream a create goes to: the first rule that matches, else the consumer's
/// own upstream (its `upstream`, or `routing.default`).
pub fn choose<'a>(
    config: &'a Config,
    consumer: &str,
    own: &'a str,
    hints: &RouteHints,
    ticket: &NewTicket,
) -> &'a str {
    config
        .routing
        .rules
        .iter()
        .find(|r| rule_matches(r, consumer, hints, ticket))
        .map(|r| r.upstream.as_str())
        .unwrap_or(own)
}

impl Gateway {
    /// The name of the upstream serving `consumer` when no rule says otherwise: its home.
    pub fn home_of(&self, consumer: &str) -> String {
        self.consumers()
            .entry(consumer)
            .map(|e| e.upstream.clone())
            .unwrap_or_else(|| self.config().routing.default.clone())
    }

    /// The upstream a create of `consumer` goes to.
    pub fn route_create(
        &self,
        consumer: &Consumer,
        ticket: &NewTicket,
        hints: &RouteHints,
    ) -> Arc<Shielded> {
        let config = self.config();
        let home = self.home_of(&consumer.name);
        let name = choose(&config, &consumer.name, &home, hints, ticket).to_owned();
        if name != home {
            tracing::debug!(consumer = %consumer.name, upstream = %name, "create routed by a rule");
        }
        self.upstream_named(&name)
    }

    /// An upstream by name, refusing one that is not configured (a mapped id naming
    /// an upstream removed from the configuration).
    fn mapped_upstream(&self, name: &str) -> Result<Arc<Shielded>> {
        self.upstreams.get(name).cloned().ok_or_else(|| {
            Error::not_found(format!(
                "this ticket lives in upstream {name:?}, which is no longer configured"
            ))
        })
    }

    /// The upstream owning `id` (as `home`'s clients know it) and its id there.
    pub async fn locate(&self, home: &str, id: &str) -> Result<(Arc<Shielded>, String)> {
        if self.config().multi_upstream()
            && let Some(m) = self.state.id_lookup(home, IdKind::Id, id).await?
        {
            return Ok((self.mapped_upstream(&m.upstream)?, m.upstream_id));
        }
        Ok((self.upstream_named(home), id.to_owned()))
    }

    /// The upstream and id of the ticket `home`'s clients know by `number`, when the id
    /// map has it (a ticket routed away from home, given a gateway number).
    pub async fn locate_number(
        &self,
        home: &str,
        number: &str,
    ) -> Result<Option<(Arc<Shielded>, String)>> {
        if !self.config().multi_upstream() {
            return Ok(None);
        }
        Ok(self
            .state
            .id_lookup(home, IdKind::Number, number)
            .await?
            .and_then(|m| Some((self.upstreams.get(&m.upstream)?.clone(), m.upstream_id))))
    }

    /// The upstreams other than `home` that the routing rules send creates to, in
    /// rule order, each once.
    pub fn routed_upstreams(&self, home: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for rule in &self.config().routing.rules {
            if rule.upstream != home && !out.contains(&rule.upstream) {
                out.push(rule.upstream.clone());
            }
        }
        out
    }

    /// The id `home`'s clients know the ticket `id` of `upstream` by.
    pub(crate) async fn gateway_id(
        &self,
        home: &str,
        upstream: &str,
        id: &str,
    ) -> Result<Option<(String, Option<String>)>> {
        if let Some(ids) = self.state.id_reverse(home, upstream, id).await? {
            return Ok(Some((ids.id, ids.number)));
        }
        if upstream == home {
            return Ok(None);
        }
        let base = self.config().routing.id_base;
        let ids = self.state.id_assign(home, upstream, id, base).await?;
        Ok(Some((ids.id, ids.number)))
    }

    /// The ticket as `home`'s clients see it: its id, number, parent and children in
    /// their namespace (given gateway ids on first sight where needed).
    pub async fn present(&self, home: &str, upstream: &str, t: Ticket) -> Result<Ticket> {
        self.present_known(home, upstream, t, false).await
    }

    /// [`Gateway::present`]; with `id_known`, the ticket's id and number are already
    /// those of `home`'s clients, and only its parent and children are mapped.
    pub async fn present_known(
        &self,
        home: &str,
        upstream: &str,
        mut t: Ticket,
        id_known: bool,
    ) -> Result<Ticket> {
        if !self.config().multi_upstream() {
            return Ok(t);
        }
        if !id_known && let Some((id, number)) = self.gateway_id(home, upstream, &t.id).await? {
            t.id = id;
            if let Some(n) = number {
                t.number = n;
            }
        }
        if let Some(p) = t.parent.take() {
            let mapped = self.gateway_id(home, upstream, &p).await?;
            t.parent = Some(mapped.map(|(id, _)| id).unwrap_or(p));
        }
        let mut children = Vec::with_capacity(t.children.len());
        for c in std::mem::take(&mut t.children) {
            let mapped = self.gateway_id(home, upstream, &c).await?;
            children.push(mapped.map(|(id, _)| id).unwrap_or(c));
        }
        t.children = children;
        Ok(t)
    }
}

/// The helpdesk a dialect talks to when the gateway has several upstreams: routes
/// creates by the rules, and every id back to the upstream owning it.
pub struct RoutedHelpdesk {
    gateway: Arc<Gateway>,
    consumer: Consumer,
    home: Arc<Shielded>,
    /// Where the home's reads go: the home, or the mirror's primary when the home is
    /// its secondary.
    reader: Arc<Shielded>,
    hints: RouteHints,
}

impl RoutedHelpdesk {
    pub fn new(gateway: Arc<Gateway>, consumer: &Consumer, hints: RouteHints) -> Self {
        let home = gateway.upstream_named(&gateway.home_of(&consumer.name));
        let reader = match gateway.mirror() {
            Some((p, s)) if s.name() == home.name() => p,
            _ => home.clone(),
        };
        Self {
            gateway,
            consumer: consumer.clone(),
            home,
            reader,
            hints,
        }
    }

    fn home(&self) -> &str {
        self.home.name()
    }

    /// The upstream serving `id` and its id there: the one owning it, or, while
    /// mirroring, its pair on the primary.
    async fn locate(&self, id: &str) -> Result<(Arc<Shielded>, String)> {
        let (u, id) = self.gateway.locate(self.home(), id).await?;
        self.gateway.serving(u, id).await
    }

    async fn present(&self, upstream: &Shielded, mut t: Ticket) -> Result<Ticket> {
        // While mirroring, a ticket whose clients know it by its pair's ids (a copy
        // made by a migration or by the mirror) is shown with those.
        if let Some((p, s)) = crate::mirror::names(&self.gateway.config())
            && (upstream.name() == p || upstream.name() == s)
        {
            let other = if upstream.name() == p { s } else { p };
            let state = &self.gateway.state;
            if state
                .id_reverse(self.home(), upstream.name(), &t.id)
                .await?
                .is_none()
                && let Some(pair) = state.copy_pair(upstream.name(), &t.id, &other).await?
                && let Some(ids) = state.id_reverse(self.home(), &other, &pair).await?
            {
                t.id = ids.id;
                if let Some(n) = ids.number {
                    t.number = n;
                }
                return self
                    .gateway
                    .present_known(self.home(), upstream.name(), t, true)
                    .await;
            }
        }
        self.gateway.present(self.home(), upstream.name(), t).await
    }

    /// The search as the consumer's own upstream answers it (a number the map knows
    /// found wherever it lives).
    /// While mirroring, a create routed to either of the mirror's upstreams: the pair.
    fn mirrored(&self, routed: &Shielded) -> Option<(Arc<Shielded>, Arc<Shielded>)> {
        self.gateway
            .mirror()
            .filter(|(p, s)| routed.name() == p.name() || routed.name() == s.name())
    }

    /// Mirror a subticket link (or its removal) when both tickets have copies.
    async fn mirror_link(&self, op: &'static str, upstream: &Shielded, parent: &str, child: &str) {
        let Some((p, s)) = self.gateway.mirror() else {
            return;
        };
        if upstream.name() != p.name() {
            return;
        }
        let child_copy = match self
            .gateway
            .state
            .copy_pair(p.name(), child, s.name())
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "the mirror's pair could not be read");
                None
            }
        };
        let link = op == "link";
        self.gateway
            .mirror_write(op, p.name(), parent, None, move |s, sid| async move {
                let Some(cid) = child_copy else {
                    return Err(Error::not_found(
                        "the subticket has no copy on the secondary yet",
                    ));
                };
                if link {
                    s.link(&sid, &cid).await
                } else {
                    s.unlink(&sid, &cid).await
                }
                .map(|()| None)
            })
            .await;
    }

    async fn search_home(&self, q: &Query) -> Result<Page<Ticket>> {
        // A number the map knows names one ticket, wherever it lives.
        if let Some(n) = &q.number
            && let Some(m) = self
                .gateway
                .state
                .id_lookup(self.home(), IdKind::Number, n)
                .await?
        {
            let u = self.gateway.mapped_upstream(&m.upstream)?;
            let (u, id) = self.gateway.serving(u, m.upstream_id).await?;
            let items = match u.get(&id).await {
                Ok(t) => vec![self.present(&u, t).await?],
                Err(e) if e.kind == ticketgate_model::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e),
            };
            return Ok(Page {
                total: items.len() as u64,
                total_exact: true,
                offset: q.offset,
                limit: q.limit,
                items,
            });
        }
        let mut page = self.reader.search(q).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for t in std::mem::take(&mut page.items) {
            items.push(self.present(&self.reader, t).await?);
        }
        page.items = items;
        Ok(page)
    }

    /// The upstreams a search of this consumer spans: its own, then every upstream a
    /// rule could send its tickets to (while mirroring, the primary in the secondary's
    /// place).
    fn search_targets(&self) -> Vec<Arc<Shielded>> {
        let config = self.gateway.config();
        let mirror = crate::mirror::names(&config);
        let serve = |n: &str| match &mirror {
            Some((p, s)) if s == n => p.clone(),
            _ => n.to_owned(),
        };
        let mut names = vec![self.reader.name().to_owned()];
        for r in &config.routing.rules {
            let name = serve(&r.upstream);
            if r.consumer
                .as_deref()
                .is_none_or(|c| c == &*self.consumer.name)
                && !names.contains(&name)
            {
                names.push(name);
            }
        }
        names
            .iter()
            .filter_map(|n| self.gateway.upstreams.get(n).cloned())
            .collect()
    }

    /// A search over every upstream the consumer's tickets may live in (see
    /// [`RoutedHelpdesk::search_paged`]), without a cursor.
    pub async fn search_spread(&self, q: &Query) -> Result<(Page<Ticket>, Option<SearchSpread>)> {
        self.search_paged(q, None)
            .await
            .map(|(page, spread, _)| (page, spread))
    }

    /// A search over every upstream the consumer's tickets may live in, merged by the
    /// requested sort, and the cursor of the page after it (None when the search has
    /// no more, or spans one upstream).
    ///
    /// - With `cursor` (see `crate::cursor`): keyset pagination, each upstream asked
    ///   for its tickets after the cursor's key ([`RoutedHelpdesk::collect`]); the
    ///   page holds the first `limit` of them in the merged order.
    /// - Without, at offset 0: the same, from the start.
    /// - Without, at a deeper offset: each upstream asked for its first
    ///   `offset + limit` matches, merged, and the page cut from the merge (at most
    ///   1 000 deep).
    ///
    /// An upstream that cannot answer leaves the page partial, and says so (its place
    /// in the cursor does not move, so its tickets come once it answers again); when
    /// none answers, the consumer's own upstream's error is the answer.
    pub async fn search_paged(
        &self,
        q: &Query,
        cursor: Option<&str>,
    ) -> Result<(Page<Ticket>, Option<SearchSpread>, Option<String>)> {
        let targets = self.search_targets();
        let mapped_number = match &q.number {
            Some(n) => self
                .gateway
                .state
                .id_lookup(self.home(), IdKind::Number, n)
                .await?
                .is_some(),
            None => false,
        };
        if targets.len() < 2 || mapped_number {
            if cursor.is_some() {
                return Err(Error::bad_input(
                    "query parameter cursor: this search is answered by one upstream; page it with offset",
                )
                .field("cursor"));
            }
            return Ok((self.search_home(q).await?, None, None));
        }
        let binding = crate::cursor::binding(&self.consumer.name, q);
        let key = self.gateway.cursor_key();
        let position = match cursor {
            Some(c) => {
                if q.offset != 0 {
                    return Err(Error::bad_input(
                        "query parameter offset: a cursor already says where the page starts; give one or the other",
                    )
                    .field("offset"));
                }
                Some(crate::cursor::decode(key, c, &binding)?)
            }
            None if q.offset == 0 => Some(crate::cursor::Position {
                binding: binding.clone(),
                places: Default::default(),
                shown: 0,
            }),
            None => None,
        };
        let (page, spread, position) = match position {
            Some(p) => self.search_keyset(q, &targets, p).await?,
            None => self.search_offset(q, &targets, binding).await?,
        };
        let next = position.map(|p| crate::cursor::encode(key, &p));
        Ok((page, Some(spread), next))
    }

    /// Ask every target at once.
    async fn ask_all<'a, T, F, Fut>(
        &self,
        targets: &'a [Arc<Shielded>],
        ask: F,
    ) -> Result<(Vec<(&'a Arc<Shielded>, T)>, SearchSpread)>
    where
        F: Fn(&'a Arc<Shielded>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let answers = futures_util::future::join_all(targets.iter().map(|u| {
            let fut = ask(u);
            async move { (u, fut.await) }
        }))
        .await;
        let mut spread = SearchSpread::default();
        let mut first_error = None;
        let mut answered = Vec::new();
        for (u, answer) in answers {
            match answer {
                Ok(a) => {
                    spread.answered.push(u.name().to_owned());
                    answered.push((u, a));
                }
                Err(e) => {
                    // A cursor or a window the gateway refuses is the client's error.
                    if e.kind == ticketgate_model::ErrorKind::BadInput
                        && e.field.as_deref() == Some("cursor")
                    {
                        return Err(e);
                    }
                    spread.unavailable.push(Unanswered {
                        name: u.name().to_owned(),
                        reason: e.message.clone(),
                    });
                    if first_error.is_none() || u.name() == self.reader.name() {
                        first_error = Some(e);
                    }
                }
            }
        }
        if spread.answered.is_empty() {
            return Err(first_error.unwrap_or_else(|| Error::internal("no upstream to search")));
        }
        Ok((answered, spread))
    }

    /// The page at `q.offset` of the merge of every target's first `offset + limit`.
    async fn search_offset(
        &self,
        q: &Query,
        targets: &[Arc<Shielded>],
        binding: String,
    ) -> Result<(Page<Ticket>, SearchSpread, Option<crate::cursor::Position>)> {
        let window = q.offset.saturating_add(q.limit);
        if window > ticketgate_model::ops::MAX_SEARCH_LIMIT {
            return Err(Error::bad_input(format!(
                "a search across upstreams pages at most {} tickets deep (offset + limit); narrow it with filters, or follow next_cursor",
                ticketgate_model::ops::MAX_SEARCH_LIMIT
            ))
            .field("offset"));
        }
        let sub = Query {
            offset: 0,
            limit: window,
            ..q.clone()
        };
        let (answers, spread) = self.ask_all(targets, |u| u.search(&sub)).await?;
        let (mut total, mut exact) = (0u64, true);
        let mut merged: Vec<(crate::cursor::SortKey, &Arc<Shielded>, Ticket)> = Vec::new();
        let mut fetched: Vec<(&Arc<Shielded>, Vec<crate::cursor::SortKey>, bool)> = Vec::new();
        for (u, page) in answers {
            total += page.total;
            exact &= page.total_exact;
            let keys: Vec<_> = page
                .items
                .iter()
                .map(|t| crate::cursor::SortKey::of(u.name(), t, q.sort))
                .collect();
            fetched.push((u, keys.clone(), page.items.len() < window as usize));
            merged.extend(keys.into_iter().zip(page.items).map(|(k, t)| (k, u, t)));
        }
        merged.sort_by(|a, b| crate::cursor::order(&a.0, &b.0, q.order));
        let more = merged.len() > window as usize;
        let mut items = Vec::new();
        let mut last = None;
        for (k, u, t) in merged
            .into_iter()
            .skip(q.offset as usize)
            .take(q.limit as usize)
        {
            items.push(self.present(u, t).await?);
            last = Some(k);
        }
        // The cursor of the next page: every upstream that answered is merged up to
        // the page's last ticket.
        let done = !more && spread.unavailable.is_empty() && fetched.iter().all(|f| f.2);
        let position = match last {
            Some(last) if !done => {
                let mut places = std::collections::BTreeMap::new();
                for (u, keys, _) in &fetched {
                    places.insert(
                        u.name().to_owned(),
                        crate::cursor::Place {
                            pos: crate::cursor::position(0, keys, &last, q.order),
                            after: Some(last.clone()),
                        },
                    );
                }
                // One that did not answer starts from its beginning: none of its
                // tickets has been shown.
                for u in targets {
                    places
                        .entry(u.name().to_owned())
                        .or_insert(crate::cursor::Place {
                            pos: 0,
                            after: None,
                        });
                }
                Some(crate::cursor::Position {
                    binding,
                    places,
                    shown: q.offset.saturating_add(items.len() as u32),
                })
            }
            _ => None,
        };
        Ok((
            Page {
                items,
                total,
                total_exact: exact && spread.unavailable.is_empty(),
                offset: q.offset,
                limit: q.limit,
            },
            spread,
            position,
        ))
    }

    /// The page after `position`: each target's tickets after its key, merged.
    async fn search_keyset(
        &self,
        q: &Query,
        targets: &[Arc<Shielded>],
        position: crate::cursor::Position,
    ) -> Result<(Page<Ticket>, SearchSpread, Option<crate::cursor::Position>)> {
        use crate::cursor::{Place, SortKey, order};
        // Relevance merges by creation across upstreams: ask each in that order.
        let sub = match q.sort {
            SortField::Relevance => Query {
                sort: SortField::Created,
                ..q.clone()
            },
            _ => q.clone(),
        };
        // An upstream the cursor does not know (added since) starts where the
        // furthest one is.
        let furthest = position
            .places
            .values()
            .filter_map(|p| p.after.as_ref())
            .max_by(|a, b| order(a, b, q.order))
            .cloned();
        let place_of = |u: &Shielded| {
            position.places.get(u.name()).cloned().unwrap_or(Place {
                pos: 0,
                after: furthest.clone(),
            })
        };
        let (answers, spread) = self
            .ask_all(targets, |u| {
                let place = place_of(u);
                let sub = &sub;
                async move { self.collect(u, sub, place).await }
            })
            .await?;
        let (mut total, mut exact) = (0u64, true);
        let mut merged: Vec<(SortKey, &Arc<Shielded>, Ticket)> = Vec::new();
        let mut done = spread.unavailable.is_empty();
        for (_, c) in &answers {
            total += c.total;
            exact &= c.total_exact;
            done &= c.exhausted;
        }
        let mut kept = Vec::new();
        for (u, c) in answers {
            let place = place_of(u);
            let mut keys = Vec::with_capacity(c.fetched.len());
            for t in c.fetched {
                let k = SortKey::of(u.name(), &t, q.sort);
                if place
                    .after
                    .as_ref()
                    .is_none_or(|a| order(&k, a, q.order) == std::cmp::Ordering::Greater)
                {
                    merged.push((k.clone(), u, t));
                }
                keys.push(k);
            }
            kept.push((u, c.start, keys, place));
        }
        merged.sort_by(|a, b| order(&a.0, &b.0, q.order));
        done &= merged.len() <= q.limit as usize;
        let mut items = Vec::new();
        let mut last: Option<SortKey> = None;
        for (k, u, t) in merged.into_iter().take(q.limit as usize) {
            items.push(self.present(u, t).await?);
            last = Some(k);
        }
        let mut places = position.places.clone();
        for (u, start, keys, place) in kept {
            // Everything of this upstream up to the page's last ticket has been shown.
            let after = match (&place.after, &last) {
                (Some(a), Some(l)) if order(a, l, q.order) == std::cmp::Ordering::Greater => {
                    Some(a.clone())
                }
                (a, None) => a.clone(),
                (_, Some(l)) => Some(l.clone()),
            };
            let pos = match &after {
                Some(a) => crate::cursor::position(start, &keys, a, q.order),
                None => start,
            };
            places.insert(u.name().to_owned(), Place { pos, after });
        }
        // An upstream that did not answer keeps its place (or takes the one it would
        // have had), so its tickets come when it answers again.
        for u in targets {
            if !places.contains_key(u.name()) {
                places.insert(u.name().to_owned(), place_of(u));
            }
        }
        let offset = position.shown;
        let next = (!done).then(|| crate::cursor::Position {
            binding: position.binding,
            places,
            shown: offset.saturating_add(items.len() as u32),
        });
        Ok((
            Page {
                items,
                total,
                total_exact: exact && spread.unavailable.is_empty(),
                offset,
                limit: q.limit,
            },
            spread,
            next,
        ))
    }

    /// One upstream's tickets from a little before `place.pos` on, in its own order:
    /// enough to hold its first `q.limit` tickets after `place.after` in the merged
    /// order. The answer must start strictly before the key (by the sort value), else
    /// tickets were removed ahead of it and it is asked again from further back, so
    /// nothing after the key is ever skipped; it runs on past the `limit`-th ticket
    /// to the end of that ticket's tie on the sort value, whose order each upstream
    /// breaks its own way.
    async fn collect(
        &self,
        u: &Shielded,
        q: &Query,
        place: crate::cursor::Place,
    ) -> Result<Collected> {
        use crate::cursor::{SortKey, order, primary_before};
        const BACK: u32 = 8;
        /// The most tickets one upstream is asked for to make one page.
        const SCAN: usize = 5 * ticketgate_model::ops::MAX_SEARCH_LIMIT as usize;
        let max = ticketgate_model::ops::MAX_SEARCH_LIMIT;
        let need = q.limit.max(1) as usize;
        let key = |t: &Ticket| SortKey::of(u.name(), t, q.sort);
        let is_after = |k: &SortKey| {
            place
                .after
                .as_ref()
                .is_none_or(|a| order(k, a, q.order) == std::cmp::Ordering::Greater)
        };
        let mut scanned = 0usize;
        let mut back = BACK;
        loop {
            let start = match &place.after {
                None => 0,
                Some(_) => place.pos.saturating_sub(back),
            };
            let mut fetched: Vec<Ticket> = Vec::new();
            let (mut total, mut total_exact) = (0, true);
            let mut exhausted;
            let mut proven = start == 0;
            loop {
                let at = start.saturating_add(fetched.len() as u32);
                let want = (need + back as usize + 1).min(max as usize) as u32;
                let page = u
                    .search(&Query {
                        offset: at,
                        limit: want,
                        ..q.clone()
                    })
                    .await?;
                let got = page.items.len();
                scanned += got;
                if fetched.is_empty() {
                    (total, total_exact) = (page.total, page.total_exact);
                }
                exhausted = got == 0
                    || (page.total_exact && u64::from(at) + got as u64 >= page.total)
                    || (!page.total_exact && got < want as usize);
                fetched.extend(page.items);
                if !proven {
                    match (fetched.first(), &place.after) {
                        (Some(t), Some(a)) if primary_before(&key(t), a, q.order) => proven = true,
                        _ => break,
                    }
                }
                if exhausted {
                    break;
                }
                let after: Vec<SortKey> = fetched.iter().map(key).filter(|k| is_after(k)).collect();
                if after.len() >= need {
                    let last = key(fetched.last().expect("fetched is not empty"));
                    if primary_before(&after[need - 1], &last, q.order) {
                        break;
                    }
                }
                if scanned > SCAN {
                    return Err(too_deep());
                }
            }
            if proven {
                return Ok(Collected {
                    start,
                    fetched,
                    total,
                    total_exact,
                    exhausted,
                });
            }
            if scanned > SCAN {
                return Err(too_deep());
            }
            back = back.saturating_mul(4);
        }
    }
}

/// What [`RoutedHelpdesk::collect`] read from one upstream.
struct Collected {
    /// Where `fetched` starts in the upstream's order.
    start: u32,
    fetched: Vec<Ticket>,
    total: u64,
    total_exact: bool,
    /// Nothing comes after `fetched`.
    exhausted: bool,
}

fn too_deep() -> Error {
    Error::bad_input(
        "query parameter cursor: too many tickets share the sort value around this page to find it again; sort by created, or narrow the search",
    )
    .field("cursor")
}

#[async_trait]
impl Helpdesk for RoutedHelpdesk {
    fn name(&self) -> &str {
        self.reader.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.reader.capabilities()
    }
    async fn create(&self, t: NewTicket) -> Result<Ticket> {
        let u = self.gateway.route_create(&self.consumer, &t, &self.hints);
        if let Some((p, s)) = self.mirrored(&u) {
            let created = p.create(t.clone()).await?;
            self.gateway.mirror_create(&p, &s, t, &created).await;
            return self.present(&p, created).await;
        }
        let created = u.create(t).await?;
        self.present(&u, created).await
    }
    async fn create_idempotent(&self, t: NewTicket, key: &str) -> Result<Ticket> {
        let u = self.gateway.route_create(&self.consumer, &t, &self.hints);
        if let Some((p, s)) = self.mirrored(&u) {
            let created = p.create_idempotent(t.clone(), key).await?;
            // A replay answers the ticket made the first time: mirrored then already.
            if self
                .gateway
                .state
                .copy_pair(p.name(), &created.id, s.name())
                .await?
                .is_none()
            {
                self.gateway.mirror_create(&p, &s, t, &created).await;
            }
            return self.present(&p, created).await;
        }
        let created = u.create_idempotent(t, key).await?;
        self.present(&u, created).await
    }
    async fn get(&self, id: &str) -> Result<Ticket> {
        let (u, id) = self.locate(id).await?;
        let t = u.get(&id).await?;
        self.present(&u, t).await
    }
    async fn get_by_number(&self, number: &str) -> Result<Ticket> {
        let mapped = self
            .gateway
            .state
            .id_lookup(self.home(), IdKind::Number, number)
            .await?;
        let (u, t) = match mapped {
            Some(m) => {
                let u = self.gateway.mapped_upstream(&m.upstream)?;
                let (u, id) = self.gateway.serving(u, m.upstream_id).await?;
                let t = u.get(&id).await?;
                (u, t)
            }
            None if self.reader.name() != self.home() => {
                // The home is the mirror's secondary: its number names its ticket,
                // which is served by its pair on the primary.
                let t = self.home.get_by_number(number).await?;
                let (u, id) = self.gateway.serving(self.home.clone(), t.id).await?;
                let t = u.get(&id).await?;
                (u, t)
            }
            None => (self.home.clone(), self.home.get_by_number(number).await?),
        };
        self.present(&u, t).await
    }
    async fn update(&self, id: &str, p: TicketPatch) -> Result<Ticket> {
        let (u, id) = self.locate(id).await?;
        let t = u.update(&id, p.clone()).await?;
        self.gateway
            .mirror_write(
                "update",
                u.name(),
                &id,
                Some(t.clone()),
                |s, sid| async move { s.update(&sid, p).await.map(Some) },
            )
            .await;
        self.present(&u, t).await
    }
    async fn delete(&self, id: &str, mode: DeleteMode) -> Result<()> {
        let (u, id) = self.locate(id).await?;
        u.delete(&id, mode).await?;
        self.gateway
            .mirror_write("delete", u.name(), &id, None, move |s, sid| async move {
                s.delete(&sid, mode).await.map(|()| None)
            })
            .await;
        Ok(())
    }
    async fn search(&self, q: &Query) -> Result<Page<Ticket>> {
        let (page, spread) = self.search_spread(q).await?;
        if let Some(spread) = spread.filter(|s| !s.unavailable.is_empty()) {
            tracing::warn!(unavailable = ?spread.unavailable, "a search across upstreams answered in part");
        }
        Ok(page)
    }
    async fn add_entry(&self, id: &str, e: NewEntry) -> Result<ThreadEntry> {
        let (u, id) = self.locate(id).await?;
        let entry = u.add_entry(&id, e.clone()).await?;
        self.gateway
            .mirror_write("add_entry", u.name(), &id, None, |s, sid| async move {
                s.add_entry(&sid, e).await.map(|_| None)
            })
            .await;
        Ok(entry)
    }
    async fn resolve(&self, id: &str, r: Resolution) -> Result<Ticket> {
        let (u, id) = self.locate(id).await?;
        let t = u.resolve(&id, r.clone()).await?;
        self.gateway
            .mirror_write(
                "resolve",
                u.name(),
                &id,
                Some(t.clone()),
                |s, sid| async move { s.resolve(&sid, r).await.map(Some) },
            )
            .await;
        self.present(&u, t).await
    }
    async fn close(&self, id: &str, c: Closure) -> Result<Ticket> {
        let (u, id) = self.locate(id).await?;
        let t = u.close(&id, c.clone()).await?;
        self.gateway
            .mirror_write(
                "close",
                u.name(),
                &id,
                Some(t.clone()),
                |s, sid| async move { s.close(&sid, c).await.map(Some) },
            )
            .await;
        self.present(&u, t).await
    }
    async fn assign(&self, id: &str, a: Assignment) -> Result<Ticket> {
        let (u, id) = self.locate(id).await?;
        let t = u.assign(&id, a.clone()).await?;
        self.gateway
            .mirror_write(
                "assign",
                u.name(),
                &id,
                Some(t.clone()),
                |s, sid| async move { s.assign(&sid, a).await.map(Some) },
            )
            .await;
        self.present(&u, t).await
    }
    async fn attach(&self, id: &str, files: Vec<Attachment>) -> Result<Vec<Attachment>> {
        let (u, id) = self.locate(id).await?;
        let done = u.attach(&id, files.clone()).await?;
        self.gateway
            .mirror_write("attach", u.name(), &id, None, |s, sid| async move {
                s.attach(&sid, files).await.map(|_| None)
            })
            .await;
        Ok(done)
    }
    async fn link(&self, parent: &str, child: &str) -> Result<()> {
        let (pu, pid) = self.locate(parent).await?;
        let (cu, cid) = self.locate(child).await?;
        if pu.name() != cu.name() {
            return Err(cross_upstream(parent, pu.name(), child, cu.name()));
        }
        pu.link(&pid, &cid).await?;
        self.mirror_link("link", &pu, &pid, &cid).await;
        Ok(())
    }
    async fn unlink(&self, parent: &str, child: &str) -> Result<()> {
        let (pu, pid) = self.locate(parent).await?;
        let (cu, cid) = self.locate(child).await?;
        if pu.name() != cu.name() {
            return Err(cross_upstream(parent, pu.name(), child, cu.name()));
        }
        pu.unlink(&pid, &cid).await?;
        self.mirror_link("unlink", &pu, &pid, &cid).await;
        Ok(())
    }
    async fn parent(&self, id: &str) -> Result<Option<Ticket>> {
        let (u, id) = self.locate(id).await?;
        match u.parent(&id).await? {
            Some(t) => Ok(Some(self.present(&u, t).await?)),
            None => Ok(None),
        }
    }
    async fn children(&self, id: &str) -> Result<Vec<Ticket>> {
        let (u, id) = self.locate(id).await?;
        let mut out = Vec::new();
        for t in u.children(&id).await? {
            out.push(self.present(&u, t).await?);
        }
        Ok(out)
    }
    async fn stats(&self, q: &StatsQuery) -> Result<Stats> {
        self.reader.stats(q).await
    }
    async fn lookup(&self, kind: LookupKind) -> Result<Vec<LookupItem>> {
        self.reader.lookup(kind).await
    }
    async fn probe(&self) -> Result<String> {
        self.reader.probe().await
    }
}

fn cross_upstream(parent: &str, pu: &str, child: &str, cu: &str) -> Error {
    Error::conflict(format!(
        "ticket {parent} lives in upstream {pu:?} and ticket {child} in {cu:?}: a subticket link cannot span two helpdesks; nothing was changed"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HeaderMatch;

    fn ticket(department: Option<&str>, email: &str) -> NewTicket {
        let mut t: NewTicket = serde_json::from_value(serde_json::json!({
            "subject": "s", "body": "b", "requester": {"email": email}
        }))
        .expect("a minimal ticket");
        t.department = department.map(Reference::name);
        t
    }

    fn config(rules: &str) -> Config {
        let raw = format!(
            "[upstreams.local]\nkind = \"embedded\"\n[upstreams.other]\nkind = \"ticketgate\"\nurl = \"http://127.0.0.1:1/v1\"\nbearer_key = \"k\"\n\
             [routing]\ndefault = \"local\"\n[[consumers]]\nname = \"demo\"\npermissions = [\"create\"]\n[[consumers]]\nname = \"pinned\"\npermissions = [\"create\"]\nupstream = \"other\"\n{rules}"
        );
        Config::parse(&raw, &|_| None).expect("the test configuration is valid")
    }

    #[test]
    fn each_condition_matches_on_its_own() {
        let hints = RouteHints::default();
        let t = ticket(Some("IT"), "ann@Example.com");
        let rule = |f: &dyn Fn(&mut RoutingRule)| {
            let mut r = RoutingRule {
                upstream: "other".into(),
                ..Default::default()
            };
            f(&mut r);
            r
        };
        assert!(rule_matches(
            &rule(&|r| r.department = Some("it".into())),
            "demo",
            &hints,
            &t
        ));
        assert!(!rule_matches(
            &rule(&|r| r.department = Some("Sales".into())),
            "demo",
            &hints,
            &t
        ));
        assert!(rule_matches(
            &rule(&|r| r.queue = Some("IT".into())),
            "demo",
            &hints,
            &t
        ));
        assert!(rule_matches(
            &rule(&|r| r.requester = Some("ann@example.com".into())),
            "demo",
            &hints,
            &t
        ));
        assert!(rule_matches(
            &rule(&|r| r.requester_domain = Some("@example.com".into())),
            "demo",
            &hints,
            &t
        ));
        assert!(!rule_matches(
            &rule(&|r| r.requester_domain = Some("ample.com".into())),
            "demo",
            &hints,
            &t
        ));
        assert!(rule_matches(
            &rule(&|r| r.consumer = Some("demo".into())),
            "demo",
            &hints,
            &t
        ));
        assert!(!rule_matches(
            &rule(&|r| r.consumer = Some("demo".into())),
            "mail",
            &hints,
            &t
        ));
        assert!(!rule_matches(
            &rule(&|r| r.category = Some("Network".into())),
            "demo",
            &hints,
            &t
        ));
        assert!(!rule_matches(
            &rule(&|r| r.topic = Some("Billing".into())),
            "demo",
            &hints,
            &t
        ));
        // Every condition of a rule must hold.
        let both = rule(&|r| {
            r.department = Some("IT".into());
            r.requester_domain = Some("other.org".into());
        });
        assert!(!rule_matches(&both, "demo", &hints, &t));
        // A rule with no condition matches nothing (configuration refuses it anyway).
        assert!(!rule_matches(&rule(&|_| {}), "demo", &hints, &t));
    }

    #[test]
    fn dialect_and_header_conditions_read_the_request() {
        let t = ticket(None, "ann@example.com");
        let mut headers = http::HeaderMap::new();
        headers.insert("x-tenant", http::HeaderValue::from_static("acme"));
        let hints = RouteHints {
            dialect: Some("osticket"),
            headers: Some(headers),
        };
        let by_dialect = RoutingRule {
            upstream: "other".into(),
            dialect: Some("osticket".into()),
            ..Default::default()
        };
        let by_header = RoutingRule {
            upstream: "other".into(),
            header: Some(HeaderMatch {
                name: "X-Tenant".into(),
                value: "acme".into(),
            }),
            ..Default::default()
        };
        assert!(rule_matches(&by_dialect, "demo", &hints, &t));
        assert!(rule_matches(&by_header, "demo", &hints, &t));
        let none = RouteHints::default();
        assert!(!rule_matches(&by_dialect, "demo", &none, &t));
        assert!(!rule_matches(&by_header, "demo", &none, &t));
    }

    #[test]
    fn the_first_matching_rule_wins_then_the_consumer_then_the_default() {
        let c = config(
            "[[routing.rules]]\ndepartment = \"IT\"\nupstream = \"other\"\n\
             [[routing.rules]]\nrequester_domain = \"example.com\"\nupstream = \"local\"\n",
        );
        let hints = RouteHints::default();
        assert_eq!(
            choose(
                &c,
                "demo",
                "local",
                &hints,
                &ticket(Some("IT"), "a@example.com")
            ),
            "other"
        );
        assert_eq!(
            choose(
                &c,
                "pinned",
                "other",
                &hints,
                &ticket(Some("Sales"), "a@example.com")
            ),
            "local"
        );
        assert_eq!(
            choose(&c, "pinned", "other", &hints, &ticket(None, "a@else.org")),
            "other"
        );
        assert_eq!(
            choose(&c, "demo", "local", &hints, &ticket(None, "a@else.org")),
            "local"
        );
    }

    #[test]
    fn check_refuses_rules_that_cannot_be_followed() {
        let base = "[upstreams.local]\nkind = \"embedded\"\n[routing]\ndefault = \"local\"\n\
                    [[consumers]]\nname = \"demo\"\npermissions = [\"create\"]\n";
        let err = |extra: &str| {
            Config::parse(&format!("{base}{extra}"), &|_| None)
                .expect_err("the configuration must be refused")
        };
        assert!(
            err("[[routing.rules]]\ndepartment = \"IT\"\nupstream = \"nowhere\"\n")
                .contains("names upstream \"nowhere\", which is not defined")
        );
        assert!(err("[[routing.rules]]\nupstream = \"local\"\n").contains("has no condition"));
        assert!(
            err("[[routing.rules]]\nconsumer = \"ghost\"\nupstream = \"local\"\n")
                .contains("names consumer \"ghost\"")
        );
        assert!(
            err("[[routing.rules]]\ndialect = \"smtp\"\nupstream = \"local\"\n")
                .contains("names dialect \"smtp\"; the dialects are canonical, osticket, itsmng, ticketsapi, rt")
        );
        // Every registered vendor's dialect may be named.
        Config::parse(
            &format!("{base}[[routing.rules]]\ndialect = \"rt\"\nupstream = \"local\"\n"),
            &|_| None,
        )
        .expect("a rule naming a registered dialect is accepted");
        // An upstream that can only create would strand its tickets.
        let core = "[upstreams.ost]\nkind = \"osticket\"\nurl = \"http://127.0.0.1:1\"\napi_key = \"k\"\nmode = \"core\"\n";
        assert!(
            err(&format!(
                "{core}[[routing.rules]]\ndepartment = \"IT\"\nupstream = \"ost\"\n"
            ))
            .contains("can only create")
        );
        // The id map lives in either state backend: rules over PostgreSQL are fine.
        Config::parse(
            &format!("{base}[state]\nbackend = \"postgres\"\nurl = \"postgres://u@127.0.0.1/db\"\n[[routing.rules]]\ndepartment = \"IT\"\nupstream = \"local\"\n"),
            &|_| None,
        )
        .expect("routing rules over the PostgreSQL state are accepted");
        // Two embedded stores cannot share a file.
        assert!(err("[upstreams.it]\nkind = \"embedded\"\n").contains("same file"));
        assert!(
            err("[upstreams.it]\nkind = \"embedded\"\npath = \"gateway.sqlite\"\n")
                .contains("a file of its own")
        );
        // And a sound rule set passes.
        Config::parse(
            &format!("{base}[[routing.rules]]\ndepartment = \"IT\"\nupstream = \"local\"\n"),
            &|_| None,
        )
        .expect("a rule naming a known upstream with a condition is valid");
    }
}

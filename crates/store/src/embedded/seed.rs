//! The look-ups a fresh embedded helpdesk starts with.
//!
//! Names follow the vendors' stock installs (osTicket's departments, priorities and
//! help topics; ITSM-NG's six priorities), so clients of any dialect find the names
//! they are used to.

use ticketgate_model::{LookupKind, PriorityLevel, State};

pub struct SeedRow {
    pub kind: LookupKind,
    pub id: i64,
    pub name: &'static str,
    pub state: Option<State>,
    pub level: Option<PriorityLevel>,
}

const fn row(kind: LookupKind, id: i64, name: &'static str) -> SeedRow {
    SeedRow {
        kind,
        id,
        name,
        state: None,
        level: None,
    }
}

const fn status(id: i64, name: &'static str, state: State) -> SeedRow {
    SeedRow {
        kind: LookupKind::Statuses,
        id,
        name,
        state: Some(state),
        level: None,
    }
}

const fn priority(id: i64, name: &'static str, level: PriorityLevel) -> SeedRow {
    SeedRow {
        kind: LookupKind::Priorities,
        id,
        name,
        state: None,
        level: Some(level),
    }
}

pub const SEED: &[SeedRow] = &[
    status(1, "New", State::New),
    status(2, "Open", State::Open),
    status(3, "Pending", State::Pending),
    status(4, "Resolved", State::Resolved),
    status(5, "Closed", State::Closed),
    status(6, "Archived", State::Archived),
    status(7, "Deleted", State::Deleted),
    priority(1, "Very Low", PriorityLevel::VeryLow),
    priority(2, "Low", PriorityLevel::Low),
    priority(3, "Normal", PriorityLevel::Normal),
    priority(4, "High", PriorityLevel::High),
    priority(5, "Emergency", PriorityLevel::VeryHigh),
    priority(6, "Major", PriorityLevel::Major),
    row(LookupKind::Departments, 1, "Support"),
    row(LookupKind::Departments, 2, "Sales"),
    row(LookupKind::Departments, 3, "Billing"),
    row(LookupKind::Departments, 4, "IT"),
    row(LookupKind::Categories, 1, "Hardware"),
    row(LookupKind::Categories, 2, "Software"),
    row(LookupKind::Categories, 3, "Network"),
    row(LookupKind::Categories, 4, "Access"),
    row(LookupKind::Categories, 5, "Other"),
    row(LookupKind::Topics, 1, "General Inquiry"),
    row(LookupKind::Topics, 2, "Feedback"),
    row(LookupKind::Topics, 10, "Report a Problem"),
    row(LookupKind::Topics, 11, "Access Issue"),
    row(LookupKind::Groups, 1, "Service Desk"),
    row(LookupKind::Groups, 2, "Second Line"),
    row(LookupKind::Groups, 3, "Network Team"),
    row(LookupKind::Agents, 1, "Sam Support"),
    row(LookupKind::Agents, 2, "Robin Ops"),
    row(LookupKind::Locations, 1, "Headquarters"),
    row(LookupKind::Locations, 2, "Branch Office"),
    row(LookupKind::Slas, 1, "Default SLA"),
    row(LookupKind::Slas, 2, "Priority SLA"),
];

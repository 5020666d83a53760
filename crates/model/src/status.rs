//! Canonical states and priorities.
//!
//! Each vendor has its own list of statuses and priorities; the canonical model keeps
//! a small fixed set of *states* (what the gateway reasons about) plus the vendor's own
//! name and id (what a client of that vendor expects back).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    New,
    Open,
    Pending,
    Resolved,
    Closed,
    Archived,
    Deleted,
}

impl State {
    pub const ALL: [State; 7] = [
        State::New,
        State::Open,
        State::Pending,
        State::Resolved,
        State::Closed,
        State::Archived,
        State::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Open => "open",
            State::Pending => "pending",
            State::Resolved => "resolved",
            State::Closed => "closed",
            State::Archived => "archived",
            State::Deleted => "deleted",
        }
    }

    /// Open in the broad sense helpdesks use for queues: not yet resolved or closed.
    pub fn is_active(self) -> bool {
        matches!(self, State::New | State::Open | State::Pending)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == lower)
            .ok_or_else(|| format!("unknown state {s:?}"))
    }
}

/// A status: the canonical state plus the vendor's own name and id for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub state: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Status {
    pub fn new(state: State) -> Self {
        Self {
            state,
            name: None,
            id: None,
        }
    }
}

impl Default for Status {
    fn default() -> Self {
        Self::new(State::New)
    }
}

/// Canonical priority levels. Six, because ITSM-NG has six and every other vendor's
/// list maps into them without collisions (osTicket: low, normal, high, emergency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorityLevel {
    VeryLow,
    Low,
    Normal,
    High,
    VeryHigh,
    Major,
}

impl PriorityLevel {
    pub const ALL: [PriorityLevel; 6] = [
        PriorityLevel::VeryLow,
        PriorityLevel::Low,
        PriorityLevel::Normal,
        PriorityLevel::High,
        PriorityLevel::VeryHigh,
        PriorityLevel::Major,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PriorityLevel::VeryLow => "very_low",
            PriorityLevel::Low => "low",
            PriorityLevel::Normal => "normal",
            PriorityLevel::High => "high",
            PriorityLevel::VeryHigh => "very_high",
            PriorityLevel::Major => "major",
        }
    }

    /// 1 (very low) … 6 (major), ITSM-NG's scale.
    pub fn rank(self) -> u8 {
        self as u8 + 1
    }

    pub fn from_rank(rank: u8) -> Option<Self> {
        Self::ALL.get(usize::from(rank).checked_sub(1)?).copied()
    }
}

impl FromStr for PriorityLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        match lower.as_str() {
            "very_low" | "lowest" => Ok(PriorityLevel::VeryLow),
            "low" => Ok(PriorityLevel::Low),
            "normal" | "medium" => Ok(PriorityLevel::Normal),
            "high" => Ok(PriorityLevel::High),
            "very_high" | "urgent" | "emergency" | "highest" => Ok(PriorityLevel::VeryHigh),
            "major" | "critical" => Ok(PriorityLevel::Major),
            _ => Err(format!("unknown priority {s:?}")),
        }
    }
}

/// A priority: the canonical level plus the vendor's own name and id for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priority {
    pub level: PriorityLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Priority {
    pub fn new(level: PriorityLevel) -> Self {
        Self {
            level,
            name: None,
            id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_ranks_round_trip() {
        for level in PriorityLevel::ALL {
            assert_eq!(PriorityLevel::from_rank(level.rank()), Some(level));
        }
        assert_eq!(PriorityLevel::from_rank(0), None);
        assert_eq!(PriorityLevel::from_rank(7), None);
    }

    #[test]
    fn states_parse_case_insensitively() {
        assert_eq!("Resolved".parse::<State>(), Ok(State::Resolved));
        assert!("solved-ish".parse::<State>().is_err());
    }
}

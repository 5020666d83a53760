//! ITSM-NG's search engine (`search/Ticket`) both ways: the Ticket search options,
//! criteria → canonical [`Query`] (server face), [`Query`] → criteria (client face),
//! result rows keyed by option id, and the response read back as a [`Page`].

use crate::errors::ApiError;
use crate::mapping::{
    ROOT_ENTITY, as_i64, as_text, body_of, format_date, parse_date, requesttype_to_source,
    source_to_requesttype, state_to_status, status_of, type_to_canonical, type_to_vendor,
    vendor_priority,
};
use crate::params::list;
use serde_json::{Map, Value, json};
use ticketgate_model::{
    Error, Page, Priority, PriorityLevel, Query, Reference, Requester, SortField, SortOrder, State,
    Ticket,
};

/// One Ticket search option.
#[derive(Debug, Clone, Copy)]
pub struct SearchOption {
    pub id: u32,
    pub name: &'static str,
    pub table: &'static str,
    pub field: &'static str,
    pub datatype: &'static str,
    pub nosearch: bool,
    /// GLPI's unique id of the option (`Search::getOptionUniqID`: itemtype, the
    /// joined itemtypes, the field). Several options share one (4, 5 and 66; 8, 65
    /// and 71), exactly as GLPI lists them.
    pub uid: &'static str,
    pub searchtypes: &'static [&'static str],
}

/// The search types GLPI offers, by kind of option (as `listSearchOptions` lists them).
const TEXT: &[&str] = &["contains", "notcontains"];
const EQUALS_ONLY: &[&str] = &["equals"];
const DROPDOWN: &[&str] = &["contains", "notcontains", "equals", "notequals"];
const TREE_DROPDOWN: &[&str] = &[
    "contains",
    "notcontains",
    "equals",
    "notequals",
    "under",
    "notunder",
];
const ORDERED: &[&str] = &[
    "equals",
    "notequals",
    "lessthan",
    "morethan",
    "contains",
    "notcontains",
];

/// The Ticket search options of a stock GLPI 10.0.12, by id, as its
/// `listSearchOptions/Ticket` lists them (read from the live instance).
pub const TICKET_OPTIONS: &[SearchOption] = &[
    SearchOption {
        id: 1,
        name: "Title",
        table: "glpi_tickets",
        field: "name",
        datatype: "itemlink",
        nosearch: false,
        uid: "Ticket.name",
        searchtypes: TEXT,
    },
    SearchOption {
        id: 2,
        name: "ID",
        table: "glpi_tickets",
        field: "id",
        datatype: "number",
        nosearch: false,
        uid: "Ticket.id",
        searchtypes: TEXT,
    },
    SearchOption {
        id: 3,
        name: "Priority",
        table: "glpi_tickets",
        field: "priority",
        datatype: "specific",
        nosearch: false,
        uid: "Ticket.priority",
        searchtypes: EQUALS_ONLY,
    },
    SearchOption {
        id: 4,
        name: "Requester",
        table: "glpi_users",
        field: "name",
        datatype: "dropdown",
        nosearch: false,
        uid: "Ticket.Ticket_User.User.name",
        searchtypes: DROPDOWN,
    },
    SearchOption {
        id: 5,
        name: "Technician",
        table: "glpi_users",
        field: "name",
        datatype: "dropdown",
        nosearch: false,
        uid: "Ticket.Ticket_User.User.name",
        searchtypes: DROPDOWN,
    },
    SearchOption {
        id: 6,
        name: "Assigned to a supplier",
        table: "glpi_suppliers",
        field: "name",
        datatype: "dropdown",
        nosearch: false,
        uid: "Ticket.Supplier_Ticket.Supplier.name",
        searchtypes: DROPDOWN,
    },
    SearchOption {
        id: 7,
        name: "Category",
        table: "glpi_itilcategories",
        field: "completename",
        datatype: "dropdown",
        nosearch: false,
        uid: "Ticket.ITILCategory.completename",
        searchtypes: TREE_DROPDOWN,
    },
    SearchOption {
        id: 8,
        name: "Technician group",
        table: "glpi_groups",
        field: "completename",
        datatype: "dropdown",
        nosearch: false,
        uid: "Ticket.Group_Ticket.Group.completename",
        searchtypes: TREE_DROPDOWN,
    },
    SearchOption {
        id: 9,
        name: "Request source",
        table: "glpi_requesttypes",
        field: "name",
        datatype: "dropdown",
        nosearch: false,
        uid: "Ticket.RequestType.name",
        searchtypes: DROPDOWN,
    },
    SearchOption {
        id: 10,
        name: "Urgency",
        table: "glpi_tickets",
        field: "urgency",
        datatype: "specific",
        nosearch: false,
        uid: "Ticket.urgency",
        searchtypes: EQUALS_ONLY,
    },
    SearchOption {
        id: 11,
        name: "Impact",
        table: "glpi_tickets",
        field: "impact",
        datatype: "specific",
        nosearch: false,
        uid: "Ticket.impact",
        searchtypes: EQUALS_ONLY,
    },
    SearchOption {
        id: 12,
        name: "Status",
        table: "glpi_tickets",
        field: "status",
        datatype: "specific",
        nosearch: false,
        uid: "Ticket.status",
        searchtypes: EQUALS_ONLY,
    },
    SearchOption {
        id: 13,
        name: "Associated elements",
        table: "glpi_items_tickets",
        field: "items_id",
        datatype: "specific",
        nosearch: true,
        uid: "Ticket.Item_Ticket.items_id",
        searchtypes: TEXT,
    },
    SearchOption {
        id: 14,
        name: "Type",
        table: "glpi_tickets",
        field: "type",
        datatype: "specific",
        nosearch: false,
        uid: "Ticket.type",
        searchtypes: EQUALS_ONLY,
    },
    SearchOption {
        id: 15,
        name: "Opening date",
        table: "glpi_tickets",
        field: "date",
        datatype: "datetime",
        nosearch: false,
        uid: "Ticket.date",
        searchtypes: ORDERED,
    },
    SearchOption {
        id: 16,
        name: "Closing date",
        table: "glpi_tickets",
        field: "closedate",
        datatype: "datetime",
        nosearch: false,
        uid: "Ticket.closedate",
        searchtypes: ORDERED,
    },
    SearchOption {
        id: 17,
        name: "Resolution date",
        table: "glpi_tickets",
        field: "solvedate",
        datatype: "datetime",
        nosearch: false,
        uid: "Ticket.solvedate",
        searchtypes: ORDERED,
    },
    SearchOption {
        id: 18,
        name: "Time to resolve",
        table: "glpi_tickets",
        field: "time_to_resolve",
        datatype: "datetime",
        nosearch: false,
        uid: "Ticket.time_to_resolve",
        searchtypes: ORDERED,
    },
    SearchOption {
        id: 19,
        name: "Last update",
        table: "glpi_tickets",
        field: "date_mod",
        datatype: "datetime",
        nosearch: false,
        uid: "Ticket.date_mod",
        searchtypes: ORDERED,
    },
    SearchOption {
        id: 21,
        name: "Description",
        table: "glpi_tickets",
        field: "content",
        datatype: "text",
        nosearch: false,
        uid: "Ticket.content",
        searchtypes: TEXT,
    },
    SearchOption {
        id: 22,
        name: "Writer",
        table: "glpi_users",
        field: "name",
        datatype: "dropdown",
        nosearch: false,
        uid: "Ticket.users_id_recipient.User.name",
        searchtypes: DROPDOWN,
    },
    SearchOption {
        id: 45,
        name: "Total duration",
        table: "glpi_tickets",
        field: "actiontime",
        datatype: "timestamp",
        nosearch: true,
        uid: "Ticket.actiontime",
        searchtypes: TEXT,
    },
    SearchOption {
        id: 64,
        name: "Last edit by",
        table: "glpi_users",
        field: "name",
        datatype: "dropdown",
        nosearch: false,
        uid: "Ticket.users_id_lastupdater.User.name",
        searchtypes: DROPDOWN,
    },
    SearchOption {
        id: 65,
        name: "Watcher group",
        table: "glpi_groups",
        field: "completename",
        datatype: "dropdown",
        nosearch: false,
        uid: "Ticket.Group_Ticket.Group.completename",
        searchtypes: TREE_DROPDOWN,
    },
    SearchOption {
        id: 66,
        name: "Watcher",
        table: "glpi_users",
        field: "name",
        datatype: "dropdown",
        nosearch: false,
        uid: "Ticket.Ticket_User.User.name",
        searchtypes: DROPDOWN,
    },
    SearchOption {
        id: 71,
        name: "Requester group",
        table: "glpi_groups",
        field: "completename",
        datatype: "dropdown",
        nosearch: false,
        uid: "Ticket.Group_Ticket.Group.completename",
        searchtypes: TREE_DROPDOWN,
    },
    SearchOption {
        id: 80,
        name: "Entity",
        table: "glpi_entities",
        field: "completename",
        datatype: "dropdown",
        nosearch: false,
        uid: "Ticket.Entity.completename",
        searchtypes: TREE_DROPDOWN,
    },
    SearchOption {
        id: 83,
        name: "Location",
        table: "glpi_locations",
        field: "completename",
        datatype: "dropdown",
        nosearch: false,
        uid: "Ticket.Location.completename",
        searchtypes: TREE_DROPDOWN,
    },
];

/// The display preferences of a stock install, shown when no `forcedisplay` is given.
pub const DEFAULT_DISPLAY: &[u32] = &[12, 19, 15, 3, 4, 5, 7, 18];

/// The page size a stock install uses (`glpilist_limit`).
pub const LIST_LIMIT: u64 = 15;

pub fn option(id: u32) -> Option<&'static SearchOption> {
    TICKET_OPTIONS.iter().find(|o| o.id == id)
}

/// The body of `listSearchOptions/Ticket`.
pub fn list_search_options() -> Value {
    let mut m = Map::new();
    m.insert("common".into(), json!({"name": "Characteristics"}));
    for o in TICKET_OPTIONS {
        m.insert(
            o.id.to_string(),
            json!({
                "name": o.name,
                "table": o.table,
                "field": o.field,
                "datatype": o.datatype,
                "nosearch": o.nosearch,
                "nodisplay": false,
                "available_searchtypes": o.searchtypes,
                "uid": o.uid,
            }),
        );
    }
    Value::Object(m)
}

/// A `range=a-b` parameter; `None` when absent.
pub fn parse_range(v: Option<&Value>) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    let text = as_text(v).unwrap_or_default();
    let bad = || ApiError::bad_request("range must be in format : [start-end] with integers");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return Err(bad());
    }
    let a: u64 = a.parse().map_err(|_| bad())?;
    let b: u64 = b.parse().map_err(|_| bad())?;
    Ok(Some((a, b)))
}

/// A search request, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSpec {
    pub query: Query,
    /// `criteria` on the ticket id (option 2): answered by fetching that ticket.
    pub id: Option<String>,
    pub columns: Vec<u32>,
    pub sort: u32,
    /// False when `sort` was given but is no number (answered as `[0]`, as GLPI does).
    pub sort_is_number: bool,
    pub order: &'static str,
    pub start: u64,
    pub end: u64,
    /// A criterion no ticket can meet (a request source or type that does not
    /// exist): the answer is empty, as GLPI's is, never a wider search.
    pub matches_nothing: bool,
    /// `uid_cols` given: result columns keyed by option uid instead of option id.
    pub uid_cols: bool,
    /// `withindexes` given: rows keyed by ticket id (an object) instead of a list.
    pub with_indexes: bool,
    /// `giveItems` given: the rows also as `data_html`, keyed by option id.
    pub give_items: bool,
}

struct Criterion {
    link: String,
    field: u32,
    searchtype: String,
    value: String,
}

fn collect_criteria(v: &Value, out: &mut Vec<Criterion>) -> Result<(), ApiError> {
    for c in list(v) {
        let link = c
            .get("link")
            .and_then(as_text)
            .unwrap_or_else(|| "AND".to_owned())
            .to_ascii_uppercase();
        if let Some(nested) = c.get("criteria") {
            if link.contains("NOT") {
                return Err(ApiError::unsupported(
                    "NOT links in search criteria are not supported by ticketgate",
                ));
            }
            collect_criteria(nested, out)?;
            continue;
        }
        let malformed = || ApiError::bad_request("Malformed search criteria");
        let field = c.get("field").ok_or_else(malformed)?;
        let searchtype = c
            .get("searchtype")
            .and_then(as_text)
            .ok_or_else(malformed)?;
        let value = c.get("value").and_then(as_text).ok_or_else(malformed)?;
        let field_text = as_text(field).unwrap_or_default();
        let id = if !field_text.is_empty() && field_text.bytes().all(|b| b.is_ascii_digit()) {
            field_text.parse::<u32>().ok()
        } else {
            None
        };
        let option = id
            .and_then(option)
            .ok_or_else(|| ApiError::bad_request("Bad field ID in search criteria"))?;
        if option.nosearch {
            return Err(ApiError::bad_request(
                "Forbidden field ID in search criteria",
            ));
        }
        out.push(Criterion {
            link,
            field: option.id,
            searchtype: searchtype.to_ascii_lowercase(),
            value,
        });
    }
    Ok(())
}

fn states_for(value: &str) -> Option<Vec<State>> {
    use State::*;
    Some(match value.trim() {
        "notold" => vec![New, Open, Pending],
        "notclosed" => vec![New, Open, Pending, Resolved],
        "old" => vec![Resolved, Closed],
        "process" => vec![Open],
        "all" => vec![],
        list => {
            let mut out = Vec::new();
            for part in list.split(',') {
                let n: i64 = part.trim().parse().ok()?;
                let s = crate::mapping::status_to_state(n)?;
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            out
        }
    })
}

fn sort_field(option: u32) -> SortField {
    match option {
        2 => SortField::Number,
        3 => SortField::Priority,
        12 => SortField::Status,
        15 => SortField::Created,
        18 => SortField::Due,
        19 => SortField::Updated,
        _ => SortField::Subject,
    }
}

fn sort_option(f: SortField) -> u32 {
    match f {
        SortField::Created | SortField::Relevance => 15,
        SortField::Updated => 19,
        SortField::Due => 18,
        SortField::Number => 2,
        SortField::Subject => 1,
        SortField::Priority => 3,
        SortField::Status => 12,
    }
}

/// Decode the parameters of `search/Ticket` into a canonical query.
pub fn search_spec(values: &Map<String, Value>) -> Result<SearchSpec, ApiError> {
    let mut criteria = Vec::new();
    if let Some(c) = values.get("criteria") {
        collect_criteria(c, &mut criteria)?;
    }
    let mut q = Query {
        include_deleted: values
            .get("is_deleted")
            .is_some_and(crate::mapping::as_bool),
        ..Query::default()
    };
    if q.include_deleted {
        q.states = vec![State::Deleted];
    }
    let mut id = None;
    let mut status_states: Option<Vec<State>> = None;
    let mut matches_nothing = false;
    for c in &criteria {
        let unsupported = || {
            ApiError::unsupported(format!(
                "search criterion {} {} on field {} is not supported by ticketgate",
                c.link, c.searchtype, c.field
            ))
        };
        if c.link.contains("NOT") || c.searchtype.starts_with("not") {
            return Err(unsupported());
        }
        if c.link == "OR" && !matches!(c.field, 1 | 21 | 12) {
            return Err(unsupported());
        }
        let v = c.value.trim();
        match c.field {
            1 | 21 => q.text = Some(v.to_owned()).filter(|s| !s.is_empty()),
            2 => id = Some(v.to_owned()),
            12 => {
                let states = states_for(v).ok_or_else(unsupported)?;
                if !q.include_deleted {
                    let merged = status_states.get_or_insert_with(Vec::new);
                    for s in states {
                        if !merged.contains(&s) {
                            merged.push(s);
                        }
                    }
                }
            }
            3 => {
                let level = v
                    .parse::<u8>()
                    .ok()
                    .and_then(PriorityLevel::from_rank)
                    .ok_or_else(unsupported)?;
                q.priority = Some(Reference::name(level.as_str()));
            }
            14 => match v.parse().ok().and_then(type_to_canonical) {
                Some(t) => q.ticket_type = Some(t),
                None => matches_nothing = true,
            },
            7 => q.category = Some(Reference::guess(v)),
            5 => q.assignee = Some(Reference::guess(v)),
            8 => q.group = Some(Reference::guess(v)),
            9 if v.is_empty() => {}
            9 => match request_sources(&c.searchtype, v).as_slice() {
                [] => matches_nothing = true,
                [one] => q.source = Some(*one),
                _ => return Err(unsupported()),
            },
            15 => {
                let t = parse_date(v).ok_or_else(unsupported)?;
                match c.searchtype.as_str() {
                    "morethan" => q.created_after = Some(t),
                    "lessthan" => q.created_before = Some(t),
                    _ => return Err(unsupported()),
                }
            }
            _ => return Err(unsupported()),
        }
    }
    if let Some(states) = status_states {
        q.states = states;
    }
    let sort = values
        .get("sort")
        .and_then(as_i64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(1);
    // A sort that is no option id (`sort=id`, which some clients send by default):
    // GLPI takes its integer value, 0, an option no column has, and says so.
    let sort_is_number = values.get("sort").is_none_or(|v| as_i64(v).is_some());
    let order = match values.get("order").and_then(as_text).as_deref() {
        Some("DESC") => "DESC",
        _ => "ASC",
    };
    q.sort = sort_field(sort);
    q.order = if order == "DESC" {
        SortOrder::Desc
    } else {
        SortOrder::Asc
    };
    let (start, end) = parse_range(values.get("range"))?.unwrap_or((0, LIST_LIMIT - 1));
    let mut columns: Vec<u32> = vec![2, 1];
    let forced: Vec<u32> = values
        .get("forcedisplay")
        .map(|f| {
            list(f)
                .into_iter()
                .filter_map(as_i64)
                .filter_map(|n| u32::try_from(n).ok())
                .filter(|n| option(*n).is_some())
                .collect()
        })
        .unwrap_or_default();
    let display = if forced.is_empty() {
        DEFAULT_DISPLAY.to_vec()
    } else {
        forced
    };
    for c in display
        .into_iter()
        .chain(criteria.iter().map(|c| c.field))
        .chain(option(sort).map(|o| o.id))
    {
        if !columns.contains(&c) {
            columns.push(c);
        }
    }
    Ok(SearchSpec {
        query: q,
        id,
        columns,
        sort,
        sort_is_number,
        order,
        start,
        end,
        matches_nothing,
        // GLPI tests these with `isset`: any value, `false` and `0` included, turns
        // them on (some clients send `uid_cols=false` by default).
        uid_cols: values.contains_key("uid_cols"),
        with_indexes: values.contains_key("withindexes"),
        give_items: values.contains_key("giveItems"),
    })
}

/// The canonical sources whose stock request type (id or name) a criterion on
/// option 9 selects: `equals` by id, `contains` by name as GLPI's LIKE does.
fn request_sources(searchtype: &str, value: &str) -> Vec<ticketgate_model::Source> {
    let mut out = Vec::new();
    for id in 1..=6 {
        let name = crate::mapping::requesttype_name(id);
        let hit = match searchtype {
            "equals" => value.parse::<i64>().ok() == Some(id),
            _ => {
                let needle = value.trim().to_lowercase();
                // GLPI anchors `^…$` in a contains search; an empty one matches all.
                let needle = needle.trim_start_matches('^').trim_end_matches('$');
                name.to_lowercase().contains(needle) || value.trim() == id.to_string()
            }
        };
        let source = requesttype_to_source(id);
        if hit && !out.contains(&source) {
            out.push(source);
        }
    }
    out
}

fn name_or_id(r: Option<&Reference>) -> Value {
    match r {
        Some(r) => match (&r.name, &r.id) {
            (Some(n), _) => json!(n),
            (None, Some(i)) => json!(i),
            _ => Value::Null,
        },
        None => Value::Null,
    }
}

fn date_or_null(t: Option<&chrono::DateTime<chrono::Utc>>) -> Value {
    t.map_or(Value::Null, |t| json!(format_date(t)))
}

/// One result row of `search/Ticket`: the requested columns keyed by option id.
pub fn search_row(t: &Ticket, columns: &[u32]) -> Map<String, Value> {
    let mut m = Map::new();
    for c in columns {
        let v = match c {
            1 => json!(t.subject),
            2 => crate::mapping::id_value(&t.id),
            3 => json!(vendor_priority(t)),
            4 => t.requester.id.clone().map_or(Value::Null, Value::String),
            5 => t
                .assignee
                .as_ref()
                .and_then(|a| a.id.clone())
                .map_or(Value::Null, Value::String),
            7 => name_or_id(t.category.as_ref()),
            8 => name_or_id(t.group.as_ref()),
            9 => json!(crate::mapping::requesttype_name(source_to_requesttype(
                t.source
            ))),
            10 => json!(t.urgency.unwrap_or(3)),
            11 => json!(t.impact.unwrap_or(3)),
            12 => json!(state_to_status(t.status.state)),
            14 => json!(type_to_vendor(t.ticket_type.unwrap_or_default())),
            15 => date_or_null(Some(&t.created_at)),
            16 => date_or_null(t.closed_at.as_ref()),
            17 => date_or_null(t.solved_at.as_ref()),
            18 => date_or_null(t.due_at.as_ref()),
            19 => date_or_null(Some(&t.updated_at)),
            21 => json!(t.body.content),
            80 => match t.entity.as_ref().and_then(|e| e.name.clone()) {
                Some(n) => json!(n),
                None => json!(ROOT_ENTITY),
            },
            83 => name_or_id(t.location.as_ref()),
            _ => Value::Null,
        };
        m.insert(c.to_string(), v);
    }
    m
}

/// A result row keyed by option uid (`uid_cols=true`). Options sharing a uid
/// overwrite one another in column order, as GLPI's own array assignment does.
pub fn by_uid(mut row: Map<String, Value>, columns: &[u32]) -> Map<String, Value> {
    let mut out = Map::new();
    for c in columns {
        if let (Some(v), Some(o)) = (row.remove(&c.to_string()), option(*c)) {
            out.insert(o.uid.to_owned(), v);
        }
    }
    out
}

fn crit(
    out: &mut Vec<(String, String)>,
    i: &mut usize,
    link: &str,
    field: u32,
    searchtype: &str,
    value: String,
) {
    out.push((format!("criteria[{i}][link]"), link.to_owned()));
    out.push((format!("criteria[{i}][field]"), field.to_string()));
    out.push((format!("criteria[{i}][searchtype]"), searchtype.to_owned()));
    out.push((format!("criteria[{i}][value]"), value));
    *i += 1;
}

/// The columns the client face asks for, to fill a canonical ticket.
pub const CLIENT_COLUMNS: &[u32] = &[
    1, 21, 12, 3, 10, 11, 14, 15, 16, 17, 18, 19, 7, 83, 4, 5, 8, 9,
];

/// A canonical query as `search/Ticket` parameters. References must carry ids
/// where ITSM-NG searches by id (category, assignee, group).
pub fn query_params(q: &Query) -> Result<Vec<(String, String)>, Error> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut i = 0usize;
    let unsupported = |what: &str| {
        Error::new(
            ticketgate_model::ErrorKind::Unsupported,
            format!("searching by {what} is not supported by the ITSM-NG upstream"),
        )
    };
    if q.requester_email.is_some() {
        return Err(unsupported("requester email"));
    }
    if q.requester_username.is_some() {
        return Err(unsupported("requester username"));
    }
    if q.department.is_some() {
        return Err(unsupported("department"));
    }
    if q.topic.is_some() {
        return Err(unsupported("topic"));
    }
    if let Some(text) = q.text.as_deref().filter(|t| !t.trim().is_empty()) {
        // Title or description: a nested OR group, so it ANDs with the rest.
        let g = i;
        out.push((format!("criteria[{g}][link]"), "AND".into()));
        for (j, (link, field)) in [("AND", 1), ("OR", 21)].into_iter().enumerate() {
            let base = format!("criteria[{g}][criteria][{j}]");
            out.push((format!("{base}[link]"), link.into()));
            out.push((format!("{base}[field]"), field.to_string()));
            out.push((format!("{base}[searchtype]"), "contains".into()));
            out.push((format!("{base}[value]"), text.trim().to_owned()));
        }
        i += 1;
    }
    let mut statuses: Vec<i64> = Vec::new();
    for s in &q.states {
        let vs: &[i64] = match s {
            State::New => &[1],
            State::Open => &[2, 3],
            State::Pending => &[4],
            State::Resolved => &[5],
            State::Closed | State::Archived => &[6],
            State::Deleted => &[],
        };
        for v in vs {
            if !statuses.contains(v) {
                statuses.push(*v);
            }
        }
    }
    if let Some(r) = &q.status {
        let id =
            r.id.as_deref()
                .and_then(|s| s.parse::<i64>().ok())
                .or_else(|| {
                    r.name
                        .as_deref()
                        .and_then(|n| n.parse::<State>().ok())
                        .map(state_to_status)
                })
                .ok_or_else(|| Error::bad_input(format!("unknown status {:?}", r.label())))?;
        statuses = vec![id];
    }
    if statuses.len() == 1 {
        crit(
            &mut out,
            &mut i,
            "AND",
            12,
            "equals",
            statuses[0].to_string(),
        );
    } else if !statuses.is_empty() {
        // Any of several statuses: a nested group of equals joined by OR.
        let g = i;
        out.push((format!("criteria[{g}][link]"), "AND".into()));
        for (j, s) in statuses.iter().enumerate() {
            let base = format!("criteria[{g}][criteria][{j}]");
            let link = if j == 0 { "AND" } else { "OR" };
            out.push((format!("{base}[link]"), link.into()));
            out.push((format!("{base}[field]"), "12".into()));
            out.push((format!("{base}[searchtype]"), "equals".into()));
            out.push((format!("{base}[value]"), s.to_string()));
        }
        i += 1;
    }
    if let Some(n) = &q.number {
        crit(&mut out, &mut i, "AND", 2, "equals", n.clone());
    }
    if let Some(p) = &q.priority {
        let rank =
            p.id.as_deref()
                .and_then(|s| s.parse::<u8>().ok())
                .or_else(|| {
                    p.name
                        .as_deref()
                        .and_then(|n| n.parse::<PriorityLevel>().ok())
                        .map(PriorityLevel::rank)
                })
                .ok_or_else(|| Error::bad_input(format!("unknown priority {:?}", p.label())))?;
        crit(&mut out, &mut i, "AND", 3, "equals", rank.to_string());
    }
    let by_id = |r: &Reference, what: &str| {
        r.id.clone()
            .ok_or_else(|| Error::bad_input(format!("unknown {what} {:?}", r.label())))
    };
    if let Some(c) = &q.category {
        crit(&mut out, &mut i, "AND", 7, "equals", by_id(c, "category")?);
    }
    if let Some(a) = &q.assignee {
        crit(&mut out, &mut i, "AND", 5, "equals", by_id(a, "assignee")?);
    }
    if let Some(g) = &q.group {
        crit(&mut out, &mut i, "AND", 8, "equals", by_id(g, "group")?);
    }
    if let Some(t) = q.ticket_type {
        crit(
            &mut out,
            &mut i,
            "AND",
            14,
            "equals",
            type_to_vendor(t).to_string(),
        );
    }
    if let Some(s) = q.source {
        crit(
            &mut out,
            &mut i,
            "AND",
            9,
            "equals",
            source_to_requesttype(s).to_string(),
        );
    }
    if let Some(t) = &q.created_after {
        crit(&mut out, &mut i, "AND", 15, "morethan", format_date(t));
    }
    if let Some(t) = &q.created_before {
        crit(&mut out, &mut i, "AND", 15, "lessthan", format_date(t));
    }
    if q.states == [State::Deleted] {
        out.push(("is_deleted".into(), "1".into()));
    }
    for (j, c) in CLIENT_COLUMNS.iter().enumerate() {
        out.push((format!("forcedisplay[{j}]"), c.to_string()));
    }
    out.push(("sort".into(), sort_option(q.sort).to_string()));
    out.push((
        "order".into(),
        match q.order {
            SortOrder::Asc => "ASC",
            SortOrder::Desc => "DESC",
        }
        .into(),
    ));
    let limit = u64::from(q.limit.clamp(1, ticketgate_model::ops::MAX_SEARCH_LIMIT));
    let start = u64::from(q.offset);
    out.push(("range".into(), format!("{start}-{}", start + limit - 1)));
    Ok(out)
}

fn first_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Array(a) => a.iter().find_map(as_text),
        Value::Null => None,
        other => as_text(other),
    }
}

/// A `search/Ticket` row (keyed by option id) as a canonical ticket.
pub fn ticket_from_search_row(row: &Value) -> Option<Ticket> {
    let get = |k: u32| row.get(k.to_string());
    let id = first_text(get(2))?;
    let int = |k: u32| get(k).and_then(as_i64);
    let date = |k: u32| get(k).and_then(Value::as_str).and_then(parse_date);
    let small = |k: u32| int(k).and_then(|n| u8::try_from(n).ok());
    let status_id = int(12).unwrap_or(1);
    let created_at = date(15).unwrap_or_else(chrono::Utc::now);
    Some(Ticket {
        number: id.clone(),
        id,
        subject: first_text(get(1)).unwrap_or_default(),
        body: body_of(&crate::mapping::decode_stored_html(
            &first_text(get(21)).unwrap_or_default(),
        )),
        requester: Requester {
            id: first_text(get(4)),
            ..Requester::default()
        },
        cc: vec![],
        status: status_of(status_id).unwrap_or_default(),
        priority: int(3)
            .and_then(|p| u8::try_from(p).ok())
            .and_then(PriorityLevel::from_rank)
            .map(|level| Priority {
                level,
                name: None,
                id: Some(level.rank().to_string()),
            }),
        urgency: small(10),
        impact: small(11),
        ticket_type: int(14).and_then(type_to_canonical),
        category: first_text(get(7)).map(Reference::name),
        topic: None,
        department: None,
        group: first_text(get(8)).map(Reference::name),
        team: None,
        assignee: first_text(get(5)).map(Reference::id),
        location: first_text(get(83)).map(Reference::name),
        entity: None,
        sla: None,
        due_at: date(18),
        updated_at: date(19).unwrap_or(created_at),
        created_at,
        solved_at: date(17),
        closed_at: date(16),
        source: get(9)
            .and_then(Value::as_str)
            .map_or(ticketgate_model::Source::Api, |s| match s {
                "E-Mail" => ticketgate_model::Source::Email,
                "Phone" => ticketgate_model::Source::Phone,
                "Helpdesk" | "" => ticketgate_model::Source::Api,
                _ => ticketgate_model::Source::Other,
            }),
        client_ip: None,
        attachments: vec![],
        entries: vec![],
        parent: None,
        children: vec![],
        custom_fields: Default::default(),
        email: None,
    })
}

/// A `search/Ticket` response as a canonical page. `data` is absent on zero rows.
pub fn page_from_search(body: &Value, offset: u32, limit: u32) -> Result<Page<Ticket>, Error> {
    let total = body
        .get("totalcount")
        .and_then(as_i64)
        .ok_or_else(|| Error::upstream_rejected("ITSM-NG search answer without totalcount"))?;
    let items = match body.get("data") {
        Some(data) => list(data)
            .into_iter()
            .filter_map(ticket_from_search_row)
            .collect(),
        None => vec![],
    };
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        total_exact: true,
        offset,
        limit,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn uids_are_glpis_and_uid_cols_overwrite_like_glpi() {
        let uid = |id| option(id).unwrap().uid;
        assert_eq!(uid(9), "Ticket.RequestType.name");
        assert_eq!(uid(7), "Ticket.ITILCategory.completename");
        for id in [8, 65, 71] {
            assert_eq!(uid(id), "Ticket.Group_Ticket.Group.completename");
        }
        assert_eq!(uid(80), "Ticket.Entity.completename");
        assert_eq!(uid(83), "Ticket.Location.completename");
        assert_eq!(uid(4), uid(5));
        let mut row = Map::new();
        row.insert("4".into(), Value::Null);
        row.insert("5".into(), json!("2"));
        row.insert("2".into(), json!(7));
        let by = by_uid(row, &[2, 4, 5]);
        assert_eq!(
            Value::Object(by),
            json!({"Ticket.id": 7, "Ticket.Ticket_User.User.name": "2"})
        );
    }

    #[test]
    fn a_criterion_nothing_meets_is_not_dropped() {
        let spec = |field: &str, st: &str, value: &str| {
            let mut v = Map::new();
            v.insert(
                "criteria".into(),
                json!([{"field": field, "searchtype": st, "value": value}]),
            );
            search_spec(&v).unwrap()
        };
        assert!(spec("9", "contains", "zzzq").matches_nothing);
        let s = spec("9", "contains", "Helpdesk");
        assert!(!s.matches_nothing);
        assert_eq!(s.query.source, Some(ticketgate_model::Source::Api));
        assert!(spec("9", "equals", "42").matches_nothing);
        assert!(spec("14", "equals", "9").matches_nothing);
        assert!(!spec("14", "equals", "2").matches_nothing);
    }

    use super::*;
    use crate::params::parse_php_query;

    #[test]
    fn seed_search_decodes() {
        let v = parse_php_query(
            "criteria[0][field]=12&criteria[0][searchtype]=equals&criteria[0][value]=2&range=0-50",
        );
        let s = search_spec(&v).unwrap();
        assert_eq!(s.query.states, vec![State::Open]);
        assert_eq!((s.start, s.end), (0, 50));
        assert_eq!(&s.columns[..2], &[2, 1]);
    }

    #[test]
    fn bad_criteria() {
        let v = parse_php_query(
            "criteria[0][field]=abc&criteria[0][searchtype]=equals&criteria[0][value]=2",
        );
        assert_eq!(
            search_spec(&v).unwrap_err().message,
            json!("Bad field ID in search criteria")
        );
        let v = parse_php_query("criteria[0][field]=12");
        assert_eq!(
            search_spec(&v).unwrap_err().message,
            json!("Malformed search criteria")
        );
    }

    #[test]
    fn client_params_round_trip_through_the_server_decoder() {
        let q = Query {
            text: Some("printer".into()),
            states: vec![State::New, State::Pending],
            offset: 10,
            limit: 5,
            sort: SortField::Updated,
            ..Query::default()
        };
        let params = query_params(&q).unwrap();
        let qs: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let s = search_spec(&parse_php_query(&qs)).unwrap();
        assert_eq!(s.query.text.as_deref(), Some("printer"));
        assert_eq!(s.query.states, vec![State::New, State::Pending]);
        assert_eq!((s.start, s.end), (10, 14));
        assert_eq!(s.query.sort, SortField::Updated);
    }
}

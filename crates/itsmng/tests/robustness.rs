//! No input makes the decoders panic: arbitrary query strings, bodies and content
//! types through parameter parsing, search decoding and the Ticket input mappings.

use proptest::prelude::*;
use serde_json::Value;
use ticketgate_itsmng::mapping::{self, SessionDefaults};
use ticketgate_itsmng::{params, search};

fn exercise(values: &serde_json::Map<String, Value>) {
    let _ = search::search_spec(values);
    let _ = search::parse_range(values.get("range"));
    if let Some(Value::Object(input)) = values.get("input") {
        let _ = mapping::new_ticket_from_input(input, &SessionDefaults::default());
        let _ = mapping::patch_from_input(input, None);
        let _ = mapping::entry_from_followup_input(input);
        let _ = mapping::solution_from_input(input);
        let _ = mapping::actor_from_input(input, false);
    }
    if let Some(v) = values.get("data") {
        let _ = search::page_from_search(v, 0, 10);
        let _ = mapping::ticket_from_row(v);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn queries_never_panic(q in "[a-z\\[\\]0-9=&%_.,-]{0,80}") {
        let values = params::parse_php_query(&q);
        exercise(&values);
    }

    #[test]
    fn bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200), kind in 0usize..4) {
        let content_type = ["application/json", "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=XX", "text/plain"][kind];
        let mut h = http::HeaderMap::new();
        h.insert("content-type", http::HeaderValue::from_static(content_type));
        if let Ok(p) = params::parse(&http::Method::POST, Some("range=0-5"), &h, &body) {
            exercise(&p.values);
        }
    }

    #[test]
    fn json_inputs_never_panic(
        name in proptest::option::of(".{0,20}"),
        urgency in proptest::option::of(-3i64..9),
        status in proptest::option::of(-1i64..9),
        date in proptest::option::of("[0-9: -]{0,22}"),
        assign in proptest::option::of(-2i64..5),
    ) {
        let mut input = serde_json::Map::new();
        if let Some(n) = name { input.insert("name".into(), n.into()); }
        if let Some(u) = urgency { input.insert("urgency".into(), u.into()); input.insert("impact".into(), u.into()); }
        if let Some(s) = status { input.insert("status".into(), s.into()); }
        if let Some(d) = date { input.insert("date".into(), d.clone().into()); input.insert("time_to_resolve".into(), d.into()); }
        if let Some(a) = assign { input.insert("_users_id_assign".into(), a.into()); }
        let mut values = serde_json::Map::new();
        values.insert("input".into(), Value::Object(input));
        exercise(&values);
    }
}

//! Decoder and encoder micro-benchmarks: a realistic ticket through each codec.
//!
//! Run with `cargo bench --bench codec`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use ticketgate_model::{NewTicket, Ticket};

const CREATE_JSON: &str = r#"{
  "subject": "VPN drops every 20 minutes since the client update",
  "body": {"format": "text", "content": "Since Monday's update of the VPN client my connection drops roughly every 20 minutes. I have to reconnect by hand and lose my RDP session each time. Laptop: ThinkPad T14, Windows 11 23H2. Attached the client log of this morning."},
  "requester": {"name": "Angela Smith", "email": "angela.smith@example.com", "phone": "318-555-8634", "phone_ext": "123"},
  "cc": [{"name": "IT Lead", "email": "it-lead@example.com"}],
  "priority": "high",
  "urgency": 4,
  "impact": 3,
  "type": "incident",
  "category": "Network",
  "department": "Support",
  "source": "api",
  "client_ip": "192.0.2.10",
  "attachments": [{"name": "vpn.log", "media_type": "text/plain", "bytes": "MjAyNi0xMS0yNCAwOToxMjowMSBkaXNjb25uZWN0ZWQ6IGtlZXBhbGl2ZSB0aW1lb3V0Cg=="}],
  "custom_fields": {"asset_tag": "LT-20931", "office": "Shreveport"}
}"#;

fn json_round_trip(c: &mut Criterion) {
    let sample: NewTicket = serde_json::from_str(CREATE_JSON).expect("the sample is valid");
    c.bench_function("canonical json decode (create)", |b| {
        b.iter(|| serde_json::from_str::<NewTicket>(black_box(CREATE_JSON)).expect("valid"))
    });
    let ticket = ticket_from(sample);
    c.bench_function("canonical json encode (ticket)", |b| {
        b.iter(|| serde_json::to_vec(black_box(&ticket)).expect("serialisable"))
    });
    c.bench_function("canonical json -> canonical -> json", |b| {
        b.iter(|| {
            let t: NewTicket = serde_json::from_str(black_box(CREATE_JSON)).expect("valid");
            serde_json::to_vec(&ticket_from(t)).expect("serialisable")
        })
    });
}

/// The ticket a helpdesk would answer with for this create.
fn ticket_from(t: NewTicket) -> Ticket {
    let now = chrono_now();
    Ticket {
        id: "42".into(),
        number: "100042".into(),
        subject: t.subject,
        body: t.body,
        requester: t.requester,
        cc: t.cc,
        status: ticketgate_model::Status::new(ticketgate_model::State::New),
        priority: None,
        urgency: t.urgency,
        impact: t.impact,
        ticket_type: t.ticket_type,
        category: t.category,
        topic: t.topic,
        department: t.department,
        group: t.group,
        team: t.team,
        assignee: t.assignee,
        location: t.location,
        entity: t.entity,
        sla: t.sla,
        due_at: t.due_at,
        created_at: now,
        updated_at: now,
        solved_at: None,
        closed_at: None,
        source: t.source,
        client_ip: t.client_ip,
        attachments: t.attachments,
        entries: Vec::new(),
        parent: t.parent,
        children: Vec::new(),
        custom_fields: t.custom_fields,
        email: t.email,
    }
}

fn chrono_now() -> ticketgate_model::ticket::Timestamp {
    serde_json::from_str("\"2026-11-24T09:00:00Z\"").expect("a valid RFC 3339 time")
}

fn xml_round_trip(c: &mut Criterion) {
    let sample: NewTicket = serde_json::from_str(CREATE_JSON).expect("the sample is valid");
    let create_xml =
        ticketgate_model::xml::to_xml("ticket", &sample).expect("the sample encodes as XML");
    c.bench_function("canonical xml decode (create)", |b| {
        b.iter(|| {
            ticketgate_model::xml::from_xml::<NewTicket>(black_box(&create_xml)).expect("valid")
        })
    });
    let ticket = ticket_from(sample);
    c.bench_function("canonical xml encode (ticket)", |b| {
        b.iter(|| ticketgate_model::xml::to_xml("ticket", black_box(&ticket)).expect("encodes"))
    });
}

criterion_group!(benches, json_round_trip, xml_round_trip);
criterion_main!(benches);

//! Decoder and encoder micro-benchmarks of the vendor dialects: every pure function a
//! request goes through between the socket and the canonical model, on realistic input.
//!
//! Run with `cargo bench --bench dialects` (add `-- --quick` for a fast pass).

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use ticketgate::dialects::{itsmng, mail, osticket, ticketsapi};
use ticketgate_model::NewTicket;

const OSTICKET_JSON: &str = r#"{"alert": true, "autorespond": true, "source": "API",
 "name": "Angela Smith", "email": "angela.smith@example.com", "phone": "318-555-8634X123",
 "subject": "VPN drops every 20 minutes", "ip": "192.0.2.10", "priority": 3, "topicId": 2,
 "message": "data:text/html,Since Monday's update of the VPN client my connection drops <b>roughly every 20 minutes</b>. I have to reconnect by hand and lose my RDP session each time.",
 "attachments": [{"vpn.log": "data:text/plain;base64,MjAyNi0xMS0yNCAwOToxMjowMSBkaXNjb25uZWN0ZWQ6IGtlZXBhbGl2ZSB0aW1lb3V0Cg=="}],
 "asset_tag": "LT-20931"}"#;

const OSTICKET_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ticket alert="true" autorespond="true" source="API">
  <name>Angela Smith</name>
  <email>angela.smith@example.com</email>
  <phone ext="123">318-555-8634</phone>
  <subject>VPN drops every 20 minutes</subject>
  <ip>192.0.2.10</ip>
  <priority>3</priority>
  <topicId>2</topicId>
  <message type="text/html"><![CDATA[Since Monday's update of the VPN client my connection drops <b>roughly every 20 minutes</b>. I have to reconnect by hand and lose my RDP session each time.]]></message>
  <attachments>
    <file name="vpn.log" type="text/plain" encoding="base64">MjAyNi0xMS0yNCAwOToxMjowMSBkaXNjb25uZWN0ZWQ6IGtlZXBhbGl2ZSB0aW1lb3V0Cg==</file>
  </attachments>
  <asset_tag>LT-20931</asset_tag>
</ticket>"#;

/// A form the way `curl -F` sends it: text fields and one file.
fn multipart(boundary: &str, fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    let (field, file_name, data) = file;
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: text/plain\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(data);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// A 20 KB mail with a text body and a base64 attachment, as the load harness sends it.
fn mail_20k() -> Vec<u8> {
    let raw: Vec<u8> = (0..=255u8).cycle().take(256 * 48).collect();
    let encoded = base64(&raw);
    let att: String = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", String::from_utf8_lossy(c)))
        .collect();
    let body =
        "Hello,\r\n\r\nmy laptop will not connect to the office Wi-Fi since this morning.\r\n"
            .repeat(48);
    format!(
        "From: Angela Smith <angela.smith@example.com>\r\nTo: help@example.com\r\n\
         Subject: Wi-Fi down on the third floor\r\nDate: Tue, 24 Nov 2026 09:00:00 +0000\r\n\
         Message-ID: <bench-1@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--b1\r\n\
         Content-Type: application/octet-stream; name=\"wifi.log\"\r\n\
         Content-Disposition: attachment; filename=\"wifi.log\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{att}--b1--\r\n"
    )
    .into_bytes()
}

/// Standard base64 with padding (the benches need no dependency for it).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An ITSM-NG `GET /Ticket/:id` row.
const ITSM_ROW: &str = r#"{"id":4242,"entities_id":0,"name":"VPN drops every 20 minutes",
 "date":"2026-11-24 09:00:00","closedate":null,"solvedate":null,"date_mod":"2026-11-24 09:05:00",
 "users_id_lastupdater":2,"status":2,"users_id_recipient":7,"requesttypes_id":1,
 "content":"&lt;p&gt;Since Monday's update of the VPN client my connection drops &lt;b&gt;roughly every 20 minutes&lt;/b&gt;.&lt;/p&gt;",
 "urgency":4,"impact":3,"priority":4,"itilcategories_id":5,"type":1,"global_validation":1,
 "slas_id_ttr":0,"slas_id_tto":0,"time_to_resolve":"2026-11-26 09:00:00","locations_id":3,
 "is_deleted":0,"date_creation":"2026-11-24 09:00:00"}"#;

const ITSM_INPUT: &str = r#"{"name":"VPN drops every 20 minutes",
 "content":"Since Monday's update of the VPN client my connection drops roughly every 20 minutes.",
 "urgency":4,"impact":3,"type":1,"itilcategories_id":5,"locations_id":3,"requesttypes_id":1,
 "_users_id_requester":7,"_users_id_requester_notif":{"use_notification":1,"alternative_email":["angela.smith@example.com"]}}"#;

fn osticket_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("osticket");
    g.throughput(Throughput::Bytes(OSTICKET_JSON.len() as u64));
    g.bench_function("decode json (create)", |b| {
        b.iter(|| osticket::decode_json(black_box(OSTICKET_JSON.as_bytes())).expect("valid"))
    });
    g.throughput(Throughput::Bytes(OSTICKET_XML.len() as u64));
    g.bench_function("decode xml (create)", |b| {
        b.iter(|| osticket::decode_xml(black_box(OSTICKET_XML.as_bytes())).expect("valid"))
    });
    let log = b"2026-11-24 09:12:01 disconnected: keepalive timeout\n".repeat(40);
    let form = multipart(
        "bench-boundary",
        &[
            ("name", "Angela Smith"),
            ("email", "angela.smith@example.com"),
            ("subject", "VPN drops every 20 minutes"),
            (
                "message",
                "Since Monday's update my VPN connection drops every 20 minutes.",
            ),
            ("priority", "3"),
        ],
        ("attachments[]", "vpn.log", &log),
    );
    g.throughput(Throughput::Bytes(form.len() as u64));
    g.bench_function("decode multipart (plugin create)", |b| {
        b.iter(|| {
            osticket::decode::decode_multipart(black_box(&form), "bench-boundary").expect("valid")
        })
    });
    let ticket = osticket::decode_json(OSTICKET_JSON.as_bytes()).expect("valid");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode tickets.json (client face)", |b| {
        b.iter(|| {
            let v = osticket::encode_create(black_box(&ticket)).expect("encodable");
            serde_json::to_vec(&v).expect("serialisable")
        })
    });
    g.finish();

    let raw = mail_20k();
    let config = mail::MailConfig::default();
    let mut g = c.benchmark_group("mail");
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function(
        "parse 20 KB message with attachment (tickets.email / pipe)",
        |b| b.iter(|| mail::parse(black_box(&raw), &config).expect("a valid message")),
    );
    g.finish();
}

fn itsmng_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("itsmng");
    let ticket: NewTicket = osticket::decode_json(OSTICKET_JSON.as_bytes()).expect("valid");
    g.bench_function("new_ticket_input (client face: canonical -> input)", |b| {
        b.iter(|| {
            let input = itsmng::mapping::new_ticket_input(black_box(&ticket)).expect("mappable");
            serde_json::to_vec(&serde_json::json!({ "input": input })).expect("serialisable")
        })
    });
    g.bench_function("ticket_from_row (client face: row -> canonical)", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_str(black_box(ITSM_ROW)).expect("json");
            itsmng::mapping::ticket_from_row(&v).expect("a ticket row")
        })
    });
    let session = itsmng::mapping::SessionDefaults {
        user: "7".to_owned(),
        entity: 0,
    };
    g.bench_function(
        "new_ticket_from_input (server face: input -> canonical)",
        |b| {
            b.iter(|| {
                let v: serde_json::Value =
                    serde_json::from_str(black_box(ITSM_INPUT)).expect("json");
                let map = v.as_object().expect("an object");
                itsmng::mapping::new_ticket_from_input(map, &session).expect("valid input")
            })
        },
    );
    let row: serde_json::Value = serde_json::from_str(ITSM_ROW).expect("json");
    let full = itsmng::mapping::ticket_from_row(&row).expect("a ticket row");
    g.bench_function("ticket_row (server face: canonical -> row)", |b| {
        b.iter(|| {
            let row = itsmng::mapping::ticket_row(black_box(&full), false);
            serde_json::to_vec(&row).expect("serialisable")
        })
    });
    g.finish();
}

fn ticketsapi_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("ticketsapi");
    let file = b"2026-11-24 09:12:01 disconnected: keepalive timeout\n".repeat(200);
    let body = Bytes::from(multipart(
        "bench-boundary",
        &[
            ("Subject", "VPN drops every 20 minutes"),
            (
                "Description",
                "Since Monday's update my VPN connection drops.",
            ),
            ("Priority", "High"),
            ("RequesterEmail", "angela.smith@example.com"),
        ],
        ("Attachments", "vpn.log", &file),
    ));
    let limits = ticketsapi::form::Limits {
        max_parts: 64,
        max_part_bytes: 10 << 20,
        max_total_bytes: 25 << 20,
    };
    let ct = "multipart/form-data; boundary=bench-boundary";
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("multipart form decode (10 KB file)", |b| {
        b.iter(|| ticketsapi::form::decode(Some(ct), black_box(&body), limits).expect("valid"))
    });
    g.finish();
}

criterion_group!(
    benches,
    osticket_benches,
    itsmng_benches,
    ticketsapi_benches
);
criterion_main!(benches);

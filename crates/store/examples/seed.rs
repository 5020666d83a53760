//! Fill an embedded helpdesk with many varied tickets, fast, for load tests of search.
//!
//!     cargo run --release -p ticketgate-store --example seed -- DATA_DIR [COUNT]
//!
//! Writes `DATA_DIR/helpdesk.sqlite` (COUNT tickets, 100 000 by default) through the
//! store's own create, 64 at a time, so they are committed in groups. Subjects and
//! bodies are drawn from fixed word lists with a fixed seed: every run makes the same
//! tickets. About 1 ticket in 40 mentions "printer" (the bench's selective term) and
//! nearly all contain "the" (its term matching almost everything).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use ticketgate_model::{Body, Helpdesk, NewTicket, Reference, Requester};
use ticketgate_store::EmbeddedHelpdesk;
use ticketgate_store::db::Durability;

const THINGS: &[&str] = &[
    "VPN",
    "laptop",
    "printer",
    "e-mail",
    "Wi-Fi",
    "badge reader",
    "monitor",
    "keyboard",
    "phone",
    "calendar",
    "shared drive",
    "password",
    "CRM",
    "payroll",
    "invoice export",
    "docking station",
    "projector",
    "headset",
    "backup job",
    "web shop",
    "ERP report",
    "camera",
    "license server",
    "intranet",
    "firewall rule",
    "SSO login",
    "mailbox quota",
    "scanner",
    "meeting room",
    "timesheet",
    "tablet",
    "database",
    "build server",
    "router",
    "certificate",
    "antivirus",
    "USB stick",
    "desk phone",
    "spreadsheet",
    "wiki",
];
const TROUBLES: &[&str] = &[
    "stopped working",
    "is very slow",
    "drops every few minutes",
    "shows an error",
    "cannot be reached",
    "asks for a password again",
    "crashes on start",
    "is missing",
    "needs to be replaced",
    "gives a blank page",
    "rejects my account",
    "is out of date",
    "freezes after the update",
    "prints garbage",
    "does not sync",
    "keeps beeping",
];
const DETAILS: &[&str] = &[
    "It started after the weekend.",
    "Colleagues on the same floor see it too.",
    "I already restarted twice.",
    "The error code is 0x80070005.",
    "It works from home but not in the office.",
    "This blocks the month-end closing.",
    "Nothing changed on my side as far as I know.",
    "A screenshot is attached.",
    "It happens only in the afternoon.",
    "Please call me back on my mobile.",
];
const NAMES: &[&str] = &[
    "Angela Smith",
    "Bruno Keller",
    "Chen Wei",
    "Dana Okafor",
    "Emil Novak",
    "Fatima Zahra",
    "Gustav Lind",
    "Hana Sato",
    "Ivan Petrov",
    "Julia Costa",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.next() % list.len() as u64) as usize]
    }
}

fn ticket(i: u64) -> NewTicket {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ (i + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    let thing = r.pick(THINGS);
    let trouble = r.pick(TROUBLES);
    let name = r.pick(NAMES);
    let body = format!(
        "Hello, the {thing} {trouble}. {} {} Regards, {name}",
        r.pick(DETAILS),
        r.pick(DETAILS)
    );
    NewTicket {
        subject: format!("{thing} {trouble}"),
        body: Body::text(body),
        requester: Requester {
            name: Some(name.to_owned()),
            email: Some(format!("user{}@example.com", r.next() % 500)),
            ..Default::default()
        },
        department: Some(Reference::name(if i.is_multiple_of(2) {
            "IT"
        } else {
            "Support"
        })),
        priority: Some(Reference::name(["low", "normal", "high"][(i % 3) as usize])),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: seed DATA_DIR [COUNT]");
        std::process::exit(2);
    };
    let count: u64 = match args.next().map(|n| n.parse()) {
        None => 100_000,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("seed: COUNT: {e}");
            std::process::exit(2);
        }
    };
    let path = std::path::Path::new(&dir).join("helpdesk.sqlite");
    let h = match EmbeddedHelpdesk::open_with(&path, Durability::Normal) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("seed: {}", e.message);
            std::process::exit(1);
        }
    };
    let started = std::time::Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (h, next) = (h.clone(), Arc::clone(&next));
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok(());
                }
                h.create(ticket(i)).await?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        if let Ok(Err(e)) | Err(e) =
            done.map_err(|e| ticketgate_model::Error::internal(e.to_string()))
        {
            eprintln!("seed: {}", e.message);
            std::process::exit(1);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "seed: {count} tickets in {secs:.1} s ({:.0}/s) into {}",
        count as f64 / secs,
        path.display()
    );
}

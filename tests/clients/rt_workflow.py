"""An ordinary integration workflow with the PyPI client `rt` (rt.rest2.Rt, pinned by
.ci/setup.d/31-rt-clients.sh): create a ticket with a requester, a cc and a file,
read it, edit it, reply with an attachment, comment, search by queue and by raw
TicketSQL, read the history, the attachments and one attachment's content, take the
ticket, look up queues and users, and the library's own errors (a bad token, a
ticket that does not exist, a malformed query).

Usage: python rt_workflow.py REST2_URL TOKEN TAG
Prints one JSON object: each step's outcome.
"""
import base64
import json
import sys

import httpx2
import rt.exceptions
import rt.rest2

url, token, tag = sys.argv[1], sys.argv[2], sys.argv[3]
steps = {}


def record(name, fn):
    try:
        steps[name] = {"ok": True, "value": fn()}
    except Exception as e:  # the library raises its own exceptions
        steps[name] = {"ok": False, "error": type(e).__name__, "message": str(e)[:200]}


tracker = rt.rest2.Rt(url, token=token)
made = {}


def create():
    made["id"] = tracker.create_ticket(
        queue="General",
        subject=f"{tag} printer on fire",
        content="It is really on fire.\nPlease help.",
        Requestor="alice@example.com",
        Cc="bob@example.com",
        Priority=50,
        attachments=[rt.rest2.Attachment("photo.bin", "application/octet-stream", bytes(range(256)))],
    )
    return made["id"]


record("create", create)
tid = made.get("id")


def get():
    t = tracker.get_ticket(tid)
    return {
        "id": t["id"],
        "Subject": t["Subject"],
        "Status": t["Status"],
        "Queue": t["Queue"].get("Name"),
        "Requestor": [r["id"] for r in t["Requestor"]],
        "Cc": [r["id"] for r in t["Cc"]],
        "Owner": t["Owner"]["id"],
        "Priority": t["Priority"],
        "links": sorted({link["ref"] for link in t["_hyperlinks"]}),
    }


record("get", get)
record(
    "edit",
    lambda: tracker.edit_ticket(tid, Subject=f"{tag} printer on fire (updated)", Status="open", Priority=70),
)
record("get after edit", lambda: {k: tracker.get_ticket(tid)[k] for k in ("Subject", "Status", "Priority")})
record(
    "reply",
    lambda: tracker.reply(
        tid,
        content="We are on it.",
        attachments=[rt.rest2.Attachment("note.txt", "text/plain", b"hello attachment\n")],
    ),
)
record("comment", lambda: tracker.comment(tid, content="internal note: toner is low"))
record("search by queue", lambda: [t["id"] for t in tracker.search(Queue="General", Subject__like=tag)])
record("search raw", lambda: [t["id"] for t in tracker.search(raw_query=f"Subject LIKE '{tag}' AND Status = 'open'")])
record(
    "search with OR and fields",
    lambda: [
        (t["id"], t["Subject"], t["Queue"]["Name"])
        for t in tracker.search(
            queue="General",
            raw_query=f"(Subject LIKE '{tag}' OR id = '{tid}') AND Requestor = 'alice@example.com'",
        )
    ],
)
record("search nothing", lambda: list(tracker.search(raw_query=f"Subject LIKE '{tag}' AND Status = 'resolved'")))


def history():
    items = tracker.get_ticket_history(tid)
    return [{"Type": i["Type"], "Creator": i["Creator"].get("id")} for i in items]


record("history", history)


def transaction():
    first = tracker.get_ticket_history(tid)[0]
    x = tracker.get_transaction(first["id"])
    return {"Type": x["Type"], "Object": x["Object"]["id"]}


record("transaction", transaction)


def attachments():
    ids = tracker.get_attachments_ids(tid)
    listed = tracker.get_attachments(tid)
    contents = {}
    for i in ids:
        a = tracker.get_attachment(i)
        contents[a["Filename"]] = base64.b64decode(a["Content"]).hex()
    return {
        "count": len(ids),
        "names": sorted(a["Filename"] for a in listed),
        "contents": contents,
    }


record("attachments", attachments)
record("take", lambda: tracker.take(tid))
record("take again", lambda: tracker.take(tid))
record("owner after take", lambda: tracker.get_ticket(tid)["Owner"]["id"])
record("queue", lambda: tracker.get_queue("General")["Name"])
record("all queues", lambda: sorted(q["Name"] for q in tracker.get_all_queues()))
record("user", lambda: tracker.get_user("alice@example.com")["EmailAddress"])
record("missing ticket", lambda: tracker.get_ticket(999999))
record("bad query", lambda: list(tracker.search(raw_query="Foo = 'bar'")))
record("basic auth", lambda: rt.rest2.Rt(url, http_auth=httpx2.BasicAuth("demo", token)).get_ticket(tid)["id"])
record("bad token", lambda: rt.rest2.Rt(url, token="not-the-token").get_ticket(tid))
print(json.dumps(steps))

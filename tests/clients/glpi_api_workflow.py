"""An ordinary integration workflow with the PyPI client `glpi-api` (pinned by
.ci/setup.d/21-glpi-clients.sh): open a session, create a ticket, read it, follow it
up, search it by field uids, solve it, list its solutions, delete it.

Usage: python glpi_api_workflow.py URL USER_TOKEN TAG
Prints one JSON object: each step's outcome with what a client would look at
(values that differ by server, such as ids and dates, are left out), so the same
workflow against GLPI and against ticketgate can be compared.
"""
import json
import re
import sys

import glpi_api

url, user_token, tag = sys.argv[1], sys.argv[2], sys.argv[3]
steps = {}


def record(name, fn):
    try:
        steps[name] = {"ok": True, "value": fn()}
    except glpi_api.GLPIError as e:
        code = re.match(r"\((ERROR[A-Z_]*)\)", str(e))
        steps[name] = {"ok": False, "error": code.group(1) if code else str(e)}
    except Exception as e:  # a client-side failure is an outcome too
        steps[name] = {"ok": False, "error": type(e).__name__}


with glpi_api.connect(url, None, user_token) as glpi:
    record("profiles", lambda: sorted(glpi.get_my_profiles()[0].keys()))
    created = {}

    def add():
        r = glpi.add("Ticket", {"name": tag + " printer", "content": "Tray 2 <b>jams</b>", "urgency": 4})
        created["id"] = r[0]["id"]
        return sorted(r[0].keys())

    record("add ticket", add)
    tid = created.get("id")
    record("get ticket", lambda: {k: glpi.get_item("Ticket", tid)[k] for k in ("name", "content", "urgency", "status")})
    record("get unknown ticket", lambda: glpi.get_item("Ticket", 99999999))
    record(
        "add followups",
        lambda: [
            sorted(glpi.add("ITILFollowup", {"itemtype": "Ticket", "items_id": tid, "content": c})[0].keys())
            for c in ("first", "second")
        ],
    )
    record(
        "list followups",
        lambda: [f["content"] for f in glpi.get_sub_items("Ticket", tid, "ITILFollowup", sort="id", order="DESC")],
    )
    record("field id of a uid", lambda: glpi.field_id("Ticket", "RequestType.name"))
    record("field uid of an id", lambda: glpi.field_uid("Ticket", 7))
    record(
        "search by uids",
        lambda: glpi.search(
            "Ticket",
            criteria=[{"field": "name", "searchtype": "contains", "value": tag}],
            forcedisplay=["name", "status", "RequestType.name"],
        ),
    )
    record(
        "search nothing",
        lambda: glpi.search("Ticket", criteria=[{"field": "RequestType.name", "searchtype": "contains", "value": "zzzq"}]),
    )
    record("update", lambda: glpi.update("Ticket", {"id": tid, "urgency": 2}))
    record("urgency after update", lambda: glpi.get_item("Ticket", tid)["urgency"])
    record(
        "solve",
        lambda: sorted(glpi.add("ITILSolution", {"itemtype": "Ticket", "items_id": tid, "content": "fixed"})[0].keys()),
    )
    record("status after solve", lambda: glpi.get_item("Ticket", tid)["status"])
    record(
        "list solutions",
        lambda: [(s["content"], s["status"]) for s in glpi.get_sub_items("Ticket", tid, "ITILSolution")],
    )
    record("list tasks", lambda: glpi.get_sub_items("Ticket", tid, "TicketTask"))
    record("delete", lambda: glpi.delete("Ticket", {"id": tid}))
    record("delete unknown", lambda: glpi.delete("Ticket", {"id": 99999999}))



def scrub(v, tid):
    """The ticket's id, which differs by server, as "<id>": in `{"<id>": true}`
    update and delete results and in id columns (`id`, search option 2)."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k == str(tid) and isinstance(x, bool):
                k = "<id>"
            if k in ("id", "2") and x == tid:
                x = "<id>"
            out[k] = scrub(x, tid)
        return out
    if isinstance(v, list):
        return [scrub(x, tid) for x in v]
    return v


print(json.dumps(scrub(steps, tid), sort_keys=True))

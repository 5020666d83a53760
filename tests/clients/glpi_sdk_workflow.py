"""An ordinary integration workflow with the PyPI client `glpi` (the "GLPI SDK for
Python", pinned by .ci/setup.d/21-glpi-clients.sh), through its generic `GLPI` class:
open a session, read the session and profiles, create a ticket, read it, follow it up,
list its followups, solutions and tasks, search it with GLPI's search engine, update
it, solve it, delete it.

Usage: python glpi_sdk_workflow.py URL USER_TOKEN APP_TOKEN TAG
Prints one JSON object: each step's outcome with what a client would look at (ids
and dates, which differ by server, left out), so that the same workflow against GLPI
and against ticketgate can be compared.

The library is at fault in places, and the steps record what it then does:
- `search_engine` writes the search type as `criteria[%d][searchtype]=%s` (a
  `str.format` call on a `%`-style template), so the criterion it sends has no
  search type and a second one named `%d` holds `%s`: the server answers
  "Malformed search criteria".
- `search_options` and `search_engine` write the itemtype as the caller gives it;
  `kill` passes the user token to `requests` as an `auth` object, which `requests`
  cannot call, so the session is never closed by the library (TypeError).
- every body is a JSON text put together with `%s` and sent without a Content-Type
  (GLPI, and ticketgate, read a body without one as JSON).
"""
import json
import sys

import glpi

url, user_token, app_token, tag = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
steps = {}


def record(name, fn):
    try:
        steps[name] = {"ok": True, "value": fn()}
    except Exception as e:  # a client-side failure is an outcome too
        steps[name] = {"ok": False, "error": type(e).__name__}


def code(answer):
    """The error code of an `["ERROR_…", "message"]` answer, else the answer."""
    if isinstance(answer, list) and answer and isinstance(answer[0], str) and answer[0].startswith("ERROR"):
        return answer[0]
    return answer


client = glpi.GLPI(url, app_token, user_token)
record("session", lambda: sorted(client.init_api().keys()))
record("full session", lambda: sorted(client.get("getFullSession").keys()))
record("my profiles", lambda: sorted(client.get("getMyProfiles")["myprofiles"][0].keys()))
record("active profile", lambda: sorted(client.get("getActiveProfile")["active_profile"].keys()))
record("my entities", lambda: [e["id"] for e in client.get("getMyEntities")["myentities"]])
created = {}


def create():
    # The library's own Ticket item, with its defaults (fields GLPI 10 no longer has
    # among them, such as `solution` and `slts_tto_id`).
    ticket = glpi.Ticket(name=tag + " printer", content="Tray 2 jams", attributes={"urgency": 4})
    r = client.create("ticket", ticket.get_attributes())
    created["id"] = r.get("id") if isinstance(r, dict) else None
    return sorted(r.keys()) if isinstance(r, dict) else code(r)


record("create ticket", create)
tid = created.get("id")
record(
    "get ticket",
    lambda: {k: client.get("ticket", tid)[k] for k in ("name", "content", "urgency", "impact", "status", "type")},
)
record("get unknown ticket", lambda: code(client.get("ticket", 99999999)))
record(
    "add followups",
    lambda: [
        sorted(client.create("ITILFollowup", {"itemtype": "Ticket", "items_id": tid, "content": c}).keys())
        for c in ("first", "second")
    ],
)
record("list followups", lambda: [f["content"] for f in client.get("ticket", tid, "ITILFollowup")])
record("list tickets", lambda: sorted(client.get_all("ticket")[0].keys()))
record(
    "search options (library's lower case)",
    lambda: code(client.search_options("ticket")) if isinstance(client.search_options("ticket"), list) else "listed",
)
record(
    "search options",
    lambda: {k: client.search_options("Ticket")[k]["uid"] for k in ("1", "9", "12")},
)
record(
    "search engine (the library's %d placeholders)",
    lambda: code(
        client.search_engine("Ticket", {"criteria": [{"field": "name", "searchtype": "contains", "value": tag}]})
    ),
)
record("update", lambda: [sorted(r.keys()) for r in client.update("ticket", {"id": tid, "urgency": 2})])
record("urgency after update", lambda: client.get("ticket", tid)["urgency"])
record(
    "solve",
    lambda: sorted(client.create("ITILSolution", {"itemtype": "Ticket", "items_id": tid, "content": "fixed"}).keys()),
)
record("status after solve", lambda: client.get("ticket", tid)["status"])
record(
    "list solutions",
    lambda: [(s["content"], s["status"]) for s in client.get("ticket", tid, "ITILSolution")],
)
record("list tasks", lambda: client.get("ticket", tid, "TicketTask"))
record("delete", lambda: [sorted(r.keys()) for r in client.delete("ticket", tid)])
record("deleted flag", lambda: client.get("ticket", tid)["is_deleted"])
record("purge", lambda: [sorted(r.keys()) for r in client.delete("ticket", tid, force_purge=True)])
record("get after purge", lambda: code(client.get("ticket", tid)))
record("delete unknown", lambda: code(client.delete("ticket", 99999999)))
record("kill session", lambda: client.kill())


def scrub(v):
    """The ticket's id, which differs by server, as "<id>" (update and delete results
    are `[{"<id>": true, "message": …}]`, recorded as their keys)."""
    if isinstance(v, dict):
        return {k: scrub(x) for k, x in v.items()}
    if isinstance(v, list):
        return [scrub(x) for x in v]
    return "<id>" if v == str(tid) else v


for name in ("update", "delete", "purge"):
    steps[name] = scrub(steps[name])
print(json.dumps(steps, sort_keys=True))

"""An ordinary integration workflow with the PyPI client `glpi-provider` (pinned by
.ci/setup.d/21-glpi-clients.sh): open a session, open a ticket as the library does
(batch input, its default category 198, no location), read it back with its
followups, tasks and solutions and its entity, comment on it, list the open tickets.

Usage: python glpi_provider_workflow.py BASE_URL USER_TOKEN TAG
(BASE_URL is the server root: the library appends `/apirest.php/...` itself.)
Prints one JSON object, each step's outcome without server-specific ids and dates.
"""
import json
import sys

from glpi_provider.providers.glpi_provider import GlpiProvider
from glpi_provider.services.glpi_service import GlpiService

base_url, user_token, tag = sys.argv[1], sys.argv[2], sys.argv[3]
steps = {}


def record(name, fn):
    try:
        steps[name] = {"ok": True, "value": fn()}
    except Exception as e:  # the library raises its own exceptions with the status
        steps[name] = {"ok": False, "error": type(e).__name__, "message": getattr(e, "message", str(e))[:60]}


service = GlpiService(base_url=base_url, user_token=user_token, status_open=[1, 2, 3, 4], timeout=20)
provider = GlpiProvider(service=service)
record("session", lambda: provider.create_session() is None)
opened = {}


def open_ticket():
    # The library's default location (None) is refused by GLPI 10 itself ("Column
    # 'locations_id' cannot be null"): a library fault, so the workflow names one.
    r = provider.open_ticket(
        name=tag, content="Printer jams on tray 2", requester_id=0, entity_id=0, location_id=0
    )
    opened["id"] = r[0]["id"]
    return sorted(r[0].keys())


record("open ticket", open_ticket)
tid = opened.get("id")


def read():
    t = provider.get_ticket(tid)
    return {
        "content": t.content,
        "status": [t.status.id, t.status.name] if t.status else None,
        "entity": t.entity.name,
        "followups": [f.content for f in t.itil_followups],
        "tasks": len(t.tasks),
        "solutions": len(t.solutions),
    }


record("get ticket", read)
record("add comment", lambda: provider.add_comment(tid, "Any news?") is None)
record("get ticket after comment", read)
record(
    "open tickets",
    lambda: [
        {k: v for k, v in t.items() if k in ("content", "status_id")}
        for t in provider.get_open_tickets()
        if t.get("content") == tag
    ],
)
record("close session", lambda: provider.close_session() is None)
print(json.dumps(steps, sort_keys=True))

"""PyPI `pyosticket` 0.1.0, driven the way its README shows, against one osTicket
(the real one, or ticketgate's osTicket face).

Usage: python pyosticket_workflow.py BASE_URL API_KEY TAG
BASE_URL is the helpdesk's root: the library appends /api/tickets.json itself.
Prints a JSON list, one object per step: {"step", "status", "text"} for an answer
(`text`: the body, or the HTTP error's body), or {"step", "client_error"} when the
library failed before or after talking to the server.

Faults of the library itself, recorded here and not worked around in the gateway:
- `TicketModel.to_dict` reads `self.message`, which `__slots__` leaves out and the
  constructor never sets: `create` as documented raises AttributeError before any
  request. An integrator's fix is a subclass that adds the slot (done below).
- `all` and `get` call `/api/tickets/all` and `/api/tickets/N`, "custom APIs" (its
  own docstrings) that osTicket's API does not have.
"""

import base64
import json
import sys

import requests
from pyosticket import OSTicketAPI, TicketModel

url, key, tag = sys.argv[1:4]
email = f"pyost-{tag}@example.com"
steps = []


class WithMessage(TicketModel):
    """What an integrator writes to give the library's ticket a message."""

    __slots__ = ("message",)


def step(name, call):
    try:
        body, status = call()
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else json.dumps(body)
        steps.append({"step": name, "status": status, "text": text})
    except requests.HTTPError as e:
        steps.append({"step": name, "status": e.response.status_code, "text": e.response.text})
    except Exception as e:  # the library's own faults
        steps.append({"step": name, "client_error": type(e).__name__})


api = OSTicketAPI(url, key)

documented = TicketModel(
    name="Ann Example", email=email, subject=f"pyosticket {tag}", topic_id=None, attachments=[]
)
step("create as documented", lambda: api.ticket.create(documented))

plain = WithMessage(
    name="Ann Example", email=email, subject=f"pyosticket {tag} plain", topic_id=None, attachments=[]
)
plain.message = "The printer on floor 2 jams."
step("create with a message", lambda: api.ticket.create(plain))

note = base64.b64encode(b"paper jam log\n").decode()
with_file = WithMessage(
    name="Ann Example",
    email=email,
    subject=f"pyosticket {tag} file",
    topic_id=None,
    attachments=[{"jam.txt": f"data:text/plain;base64,{note}"}],
)
with_file.message = "Log attached."
step("create with an attachment", lambda: api.ticket.create(with_file))

no_subject = WithMessage(
    name="Ann Example", email=email, subject="", topic_id=None, attachments=[]
)
no_subject.message = "No subject."
step("create without a subject", lambda: api.ticket.create(no_subject))

bad = OSTicketAPI(url, "F" * 32)
step("create with an unknown key", lambda: bad.ticket.create(plain))

number = None
for s in steps:
    if s["step"] == "create with a message" and s.get("text", "").strip().isdigit():
        number = s["text"].strip()
step("list a user's tickets (custom API)", lambda: api.ticket.all(email))
step("get a ticket (custom API)", lambda: api.ticket.get(number or "000000", email))

print(json.dumps(steps))

#!/usr/bin/env python3
"""Writes tests/mail-corpus/expected.json: what each corpus message must become when it
goes through `ticketgate pipe`, as read by an independent parser (Python's `email`
package with the modern `email.policy.default`), not by ticketgate's own code.

    python3 tests/mail-corpus/expect.py          # rewrite expected.json
    python3 tests/mail-corpus/expect.py --check  # fail if expected.json is stale

Whether a message is noise (must never open a ticket) or a ticket comes from where it was
collected, not from a guess: every message of sisimai's bounce collection and of a
parser suite's report folder is a bounce, a report or an auto-reply; everything else is
ordinary mail unless `labels.txt` says otherwise for that file (each label names the
reason, read off the message by eye).

For a ticket, the independent reading is:
- subject: the FIRST Subject field, RFC 2047 decoded, whitespace collapsed;
- sender: the first address of From; without one, of Sender, Reply-To, then Return-Path
  (ticketgate's `mail.missing_from = "fallback"`, the default); a message with none of
  them is refused (`expect: refused`), as it has nobody to answer;
- body: the first text/plain part that is not an attachment (`get_body`), or else the
  HTML one, or none (a message that is only an attachment);
- attachments: every leaf part a mail reader lists as a file or shows inline: an
  attached message (message/*, one file, not descended into), any part with a file name
  or `Content-Disposition: attachment`, and any part that is neither text nor
  multipart; with its name (RFC 2231 / RFC 2047 decoded) and the SHA-256 of its decoded
  bytes (line endings normalised to LF for text and for parts sent without a transfer
  encoding, whose line endings SMTP may rewrite).
"""

import email
import email.policy
import hashlib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_SUBJECT_CHARS = 1000

# Folders whose every message is a bounce, a report or an auto-reply.
NOISE_FOLDERS = {
    "sisimai/bsd": "sisimai's bounce, feedback-report and auto-reply collection",
    "mikel-mail/multipart_report_emails": "the mail gem's multipart/report suite",
}


def load_labels():
    labels = {}
    path = os.path.join(HERE, "labels.txt")
    if not os.path.exists(path):
        return labels
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, kind, reason = (line.split(None, 2) + ["", ""])[:3]
            labels[name] = (kind, reason)
    return labels


def corpus_files():
    out = []
    for root, _dirs, files in os.walk(HERE):
        for name in files:
            if name.endswith(".eml"):
                out.append(os.path.relpath(os.path.join(root, name), HERE))
    return sorted(out)


def clean(s):
    """Text without lone surrogates (undecodable bytes become U+FFFD)."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def collapse(s):
    return " ".join(clean(s).split())


def header_text(msg, name):
    """The first field called `name`, decoded; None when absent."""
    try:
        values = msg.get_all(name)
    except Exception:  # a header the modern policy cannot model
        values = None
    if not values:
        return None
    value = values[0]
    try:
        return str(value)
    except Exception:
        return None


def first_address(msg, name):
    try:
        values = msg.get_all(name) or []
    except Exception:
        return None
    for value in values:
        addresses = []
        try:
            addresses = [a.addr_spec for a in value.addresses]
        except Exception:
            # Not parseable as an address list: take what email.utils reads.
            addresses = [a for _n, a in email.utils.getaddresses([str(value)])]
        for addr in addresses:
            addr = addr.strip().strip("<>").strip()
            local, at, domain = addr.partition("@")
            if at and local and domain and "@" not in domain and not re.search(r"\s", addr):
                return addr
    return None


def file_safe(name):
    """The file name a file system can hold: no directory, no control or reserved characters."""
    base = re.split(r"[/\\]", name)[-1]
    base = "".join(c for c in base if ord(c) >= 32 and ord(c) != 127)
    base = re.sub(r'[:*?"<>|]', "_", base)
    return base.strip()[:255]


def decoded_bytes(part):
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if data is None:
        raw = part.get_payload()
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return data


def is_attachment(part):
    if part.get_content_maintype() == "message":
        return True
    if part.get_content_maintype() == "multipart":
        return False
    disposition = (part.get_content_disposition() or "").lower()
    try:
        filename = part.get_filename()
    except Exception:
        filename = None
    if disposition == "attachment" or filename:
        return True
    return part.get_content_maintype() != "text" or part.get_content_subtype() not in (
        "plain",
        "html",
    )


def leaves(part):
    """Leaf parts, not descending into attached messages."""
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        for sub in part.get_payload():
            yield from leaves(sub)
    else:
        yield part


def attachments(msg):
    out = []
    if not msg.is_multipart() and msg.get_content_maintype() != "message":
        # A single-part message: a file only when it is not text.
        if not is_attachment(msg) or msg.get_content_maintype() == "text":
            return out
    for part in leaves(msg) if msg.is_multipart() else [msg]:
        if not is_attachment(part):
            continue
        try:
            name = part.get_filename()
        except Exception:
            name = None
        entry = {"name": file_safe(clean(name)) if name else None}
        if part.get_content_maintype() == "message":
            entry["kind"] = "message"
        else:
            data = decoded_bytes(part)
            cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
            if part.get_content_maintype() == "text" or cte in ("", "7bit", "8bit"):
                # Line-based on the wire (text, or any part sent without a transfer
                # encoding): SMTP may rewrite its line endings.
                data = data.replace(b"\r\n", b"\n")
                entry["kind"] = "text"
            else:
                entry["kind"] = "binary"
            entry["sha256"] = hashlib.sha256(data).hexdigest()
            entry["size"] = len(data)
        out.append(entry)
    return out


def text_of(part):
    try:
        text = part.get_content()
    except Exception:
        data = decoded_bytes(part)
        charset = part.get_content_charset() or "utf-8"
        try:
            text = data.decode(charset, "replace")
        except LookupError:
            text = data.decode("utf-8", "replace")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def body(msg):
    for kind in ("plain", "html"):
        try:
            part = msg.get_body(preferencelist=(kind,))
        except Exception:
            part = None
        if part is not None and not (
            part is msg and msg.get_content_maintype() != "text"
        ):
            text = text_of(part)
            if kind == "html":
                text = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", " ", text)
                text = re.sub(r"<[^>]*>", " ", text)
            return {"kind": "text" if kind == "plain" else "html", "text": clean(text)}
    return {"kind": "none", "text": ""}


def ids(msg, name):
    value = header_text(msg, name) or ""
    return re.findall(r"<([^<>\s]+)>", value)


def expect(path, labels):
    folder = os.path.dirname(path)
    with open(os.path.join(HERE, path), "rb") as f:
        raw = f.read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if path in labels:
        kind, why = labels[path]
    elif folder in NOISE_FOLDERS:
        kind, why = "noise", "collected as noise: " + NOISE_FOLDERS[folder]
    else:
        kind, why = "ticket", "ordinary mail from a MIME parser's test suite"
    entry = {"path": path, "expect": kind, "why": why}
    message_id = ids(msg, "Message-ID")
    entry["message_id"] = message_id[0] if message_id else None
    entry["in_reply_to"] = ids(msg, "In-Reply-To") + ids(msg, "References")
    if kind != "ticket":
        return entry
    subject = collapse(header_text(msg, "Subject") or "")
    entry["subject"] = subject[:MAX_SUBJECT_CHARS] if subject else "(no subject)"
    sender = None
    for name in ("From", "Sender", "Reply-To", "Return-Path"):
        sender = first_address(msg, name)
        if sender:
            entry["sender_from"] = name
            break
    if sender is None:
        entry["expect"] = "refused"
        entry["why"] = "no sender address in From, Sender, Reply-To or Return-Path"
        return entry
    entry["sender"] = sender
    entry["body"] = body(msg)
    entry["attachments"] = attachments(msg)
    return entry


def main():
    labels = load_labels()
    files = corpus_files()
    expectations = [expect(p, labels) for p in files]
    # Test suites reuse Message-IDs, and a message that shares one (or answers one) with
    # a message already delivered would rightly be a duplicate (or a reply) of it; such
    # messages go to a later batch, which the test delivers into a data directory of its own.
    batches = []
    for e in expectations:
        if e["expect"] != "ticket":
            e["batch"] = 0
            continue
        keys = {k for k in [e.get("message_id")] + e["in_reply_to"] if k}
        n = 0
        while n < len(batches) and batches[n] & keys:
            n += 1
        if n == len(batches):
            batches.append(set())
        batches[n] |= keys
        e["batch"] = n
    text = clean(json.dumps(
        {"generator": "tests/mail-corpus/expect.py", "python": sys.version.split()[0], "messages": expectations},
        ensure_ascii=False,
        indent=1,
        sort_keys=True,
    )) + "\n"
    out = os.path.join(HERE, "expected.json")
    if "--check" in sys.argv:
        with open(out, encoding="utf-8") as f:
            old = json.load(f)
        new = json.loads(text)
        old.pop("python", None)
        new.pop("python", None)
        if old != new:
            sys.exit("expected.json is stale: run python3 tests/mail-corpus/expect.py")
        return
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    tickets = sum(1 for e in expectations if e["expect"] == "ticket")
    print(f"{len(expectations)} messages: {tickets} tickets, {len(expectations) - tickets} noise")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Open N idle keep-alive connections to ticketgate and report its memory.

Each connection sends one `GET /healthz`, reads the answer, then stays open and
silent. With all of them open, the gateway's resident set (VmRSS) and peak
(VmHWM) are read from /proc. Loopback only; it closes everything and exits.

    idle.py HOST PORT PID N  ->  prints "opened=N rss_kb=… hwm_kb=… base_kb=…"
"""
import asyncio
import resource
import os
import sys

# IDLE_SILENT=1: connect and send nothing (what a connection costs before its first request).
SILENT = os.environ.get("IDLE_SILENT") == "1"


def mem(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                fields[k] = int(v.split()[0])
    return fields


async def one(host, port, held):
    try:
        r, w = await asyncio.open_connection(host, port)
        if SILENT:
            held.append(w)
            return
        w.write(b"GET /healthz HTTP/1.1\r\nHost: load\r\n\r\n")
        await w.drain()
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            w.close()
            return
        await r.readexactly(3)  # "ok\n"
        held.append(w)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        pass


async def main():
    host, port, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, n + 1024) if hard != resource.RLIM_INFINITY else n + 1024
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    base = mem(pid)["VmRSS"]
    held = []
    batch = 500
    for start in range(0, n, batch):
        await asyncio.gather(*(one(host, port, held) for _ in range(min(batch, n - start))))
    await asyncio.sleep(1.0)
    m = mem(pid)
    print(f"opened={len(held)} rss_kb={m['VmRSS']} hwm_kb={m['VmHWM']} base_kb={base}")
    for w in held:
        w.close()


asyncio.run(main())

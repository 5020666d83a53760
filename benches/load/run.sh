#!/usr/bin/env bash
# ticketgate's load harness: one command, loopback only, a Markdown table out.
#
#   bash benches/load/run.sh            # 10 s per row
#   bash benches/load/run.sh --short    # 3 s per row (what CI runs; never fails on noise)
#
# Rows (every figure is also given as a ratio to row 2, measured in the same run):
#   1. translate-and-forward: osTicket JSON create -> ticketgate -> upstream of kind itsmng,
#      the upstream being nginx answering a fixed ITSM-NG create response;
#   2. baseline: nginx proxy_pass (keep-alive) in front of that same upstream nginx;
#   3. ticketgate over its embedded store: create, get, search;
#   4. email: messages/s through POST /api/tickets.email (20 KB with an attachment), and
#      the wall time of one `ticketgate pipe` process.
# Plus latency at light load (one connection): direct to the upstream vs through ticketgate.
#
# Needs nginx and wrk (Debian: nginx-light, wrk); installs them with apt-get if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SECS=10
[ "${1:-}" = "--short" ] && SECS=3
CONNS=${LOAD_CONNECTIONS:-64}
WORK=$(mktemp -d /tmp/ticketgate-load.XXXXXX)
OUT="$ROOT/target/load-report.md"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx-up.pid" ] && kill "$(cat "$WORK/nginx-up.pid")" 2>/dev/null || true
  [ -f "$WORK/nginx-proxy.pid" ] && kill "$(cat "$WORK/nginx-proxy.pid")" 2>/dev/null || true
  sleep 0.2
  rm -rf "$WORK"
}
trap cleanup EXIT

need() {
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$1" ]; then
    echo "load: installing $2 with apt-get" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
}
need wrk wrk
need nginx nginx-light
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release -q -p ticketgate
BIN="$ROOT/target/release/ticketgate"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP=$(port); PROXY=$(port)

# The upstream: a stand-in ITSM-NG that answers every call with a fixed response, so
# the upstream costs the same in every row.
mkdir -p "$WORK/logs"
cat > "$WORK/nginx-up.conf" <<NGX
worker_processes 1;
pid $WORK/nginx-up.pid;
error_log $WORK/logs/up-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$UP;
    default_type application/json;
    location = /apirest.php/initSession { return 200 '{"session_token":"load-session"}'; }
    location = /apirest.php/killSession { return 200 ''; }
    location = /apirest.php/Ticket {
      add_header Location "http://127.0.0.1:$UP/apirest.php/Ticket/4242" always;
      return 201 '{"id":4242,"message":"Your ticket has been recorded"}';
    }
    location /apirest.php/Ticket/ {
      return 200 '{"id":4242,"name":"VPN drops","content":"details","status":1,"urgency":3,"impact":3,"priority":3,"type":1,"date":"2026-11-24 09:00:00","date_mod":"2026-11-24 09:00:00","date_creation":"2026-11-24 09:00:00"}';
    }
    location / { return 200 '{}'; }
  }
}
NGX
# The baseline: what a user would deploy instead, a plain reverse proxy with keep-alive.
cat > "$WORK/nginx-proxy.conf" <<NGX
worker_processes 1;
pid $WORK/nginx-proxy.pid;
error_log $WORK/logs/proxy-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream helpdesk { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$PROXY;
    location = /api/tickets.json {
      proxy_pass http://helpdesk/apirest.php/Ticket;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGX
"$NGINX" -c "$WORK/nginx-up.conf" -e "$WORK/logs/up-error.log"
"$NGINX" -c "$WORK/nginx-proxy.conf" -e "$WORK/logs/proxy-error.log"

# ticketgate in front of the nginx "ITSM-NG", and ticketgate over its embedded store.
CONSUMER='
[[consumers]]
name = "load"
bearer_key = "load-key"
osticket_key = "load-key"
permissions = ["create", "read", "update", "search", "stats"]
networks = ["127.0.0.0/8"]
quota.create = { per_second = 1000000.0, burst = 1000000 }
quota.read = { per_second = 1000000.0, burst = 1000000 }
quota.search = { per_second = 1000000.0, burst = 1000000 }
[rate_limits]
global = { per_second = 10000000.0, burst = 10000000 }
[pipe]
consumer = "load"
[server]
log_format = "text"
'
cat > "$WORK/forward.toml" <<TOML
$CONSUMER
[dialects.canonical]
prefix = "/v1"
[dialects.osticket]
prefix = "/api"
[upstreams.itsm]
kind = "itsmng"
url = "http://127.0.0.1:$UP/apirest.php"
user_token = "load-token"
protection = { concurrency = 256, queue = 100000 }
[routing]
default = "itsm"
TOML
cat > "$WORK/embedded.toml" <<TOML
$CONSUMER
[dialects.canonical]
prefix = "/v1"
[dialects.osticket]
prefix = "/api"
[upstreams.embedded]
kind = "embedded"
durability = "${LOAD_DURABILITY:-full}"
protection = { concurrency = 256, queue = 100000 }
TOML

start_gateway() { # config data-dir -> prints address
  TICKETGATE_LOG=error "$BIN" serve --config "$1" --data-dir "$2" --listen 127.0.0.1:0 > "$2.out" 2>"$2.err" &
  PIDS+=($!)
  for _ in $(seq 100); do
    grep -q '^listening on ' "$2.out" 2>/dev/null && break
    sleep 0.05
  done
  sed -n 's/^listening on //p' "$2.out"
}
FWD=$(start_gateway "$WORK/forward.toml" "$WORK/fwd")
EMB=$(start_gateway "$WORK/embedded.toml" "$WORK/emb")

cat > "$WORK/create-osticket.json" <<'JSON'
{"name": "Angela Smith", "email": "angela.smith@example.com", "subject": "VPN drops every 20 minutes", "message": "Since the client update my VPN connection drops roughly every 20 minutes.", "phone": "318-555-8634X123", "ip": "192.0.2.10", "priority": 3}
JSON
cat > "$WORK/create-canonical.json" <<'JSON'
{"subject": "VPN drops every 20 minutes", "body": "Since the client update my VPN connection drops roughly every 20 minutes.", "requester": {"name": "Angela Smith", "email": "angela.smith@example.com"}, "department": "IT", "priority": "high"}
JSON
python3 - "$WORK/mail.eml" <<'PY'
import base64, sys
att = base64.encodebytes(bytes(range(256)) * 56).decode()  # ~14 KB of attachment
body = "Hello,\n\nmy laptop will not connect to the office Wi-Fi since this morning.\n" * 40
msg = f"""From: Angela Smith <angela.smith@example.com>
To: help@example.com
Subject: Wi-Fi down on the third floor
Date: Tue, 24 Nov 2026 09:00:00 +0000
Message-ID: <load-{{ID}}@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

{body}
--b1
Content-Type: application/octet-stream; name="wifi.log"
Content-Disposition: attachment; filename="wifi.log"
Content-Transfer-Encoding: base64

{att}
--b1--
"""
open(sys.argv[1], "w").write(msg.replace("\n", "\r\n"))
PY

run_wrk() { # label url method body content-type auth-header auth-value connections
  WRK_METHOD=$3 WRK_BODY_FILE=$4 WRK_CONTENT_TYPE=$5 WRK_AUTH_HEADER=$6 WRK_AUTH_VALUE=$7 \
    wrk -t2 -c"$8" -d"${SECS}s" --timeout 5s -s benches/load/report.lua "$2" 2>&1 | sed -n 's/^RESULT //p' | sed "s/^/$1 /"
}

# Warm up every path once (connections, caches, the upstream session).
for _ in 1 2 3; do
  curl -s -o /dev/null -X POST "http://$FWD/api/tickets.json" -H 'X-API-Key: load-key' -H 'Content-Type: application/json' --data-binary @"$WORK/create-osticket.json"
  curl -s -o /dev/null -X POST "http://$EMB/v1/tickets" -H 'Authorization: Bearer load-key' -H 'Content-Type: application/json' --data-binary @"$WORK/create-canonical.json"
done

RESULTS="$WORK/results.txt"
: > "$RESULTS"
run_wrk forward "http://$FWD/api/tickets.json" POST "$WORK/create-osticket.json" application/json X-API-Key load-key "$CONNS" >> "$RESULTS"
run_wrk baseline "http://127.0.0.1:$PROXY/api/tickets.json" POST "$WORK/create-osticket.json" application/json X-Unused x "$CONNS" >> "$RESULTS"
run_wrk direct "http://127.0.0.1:$UP/apirest.php/Ticket" POST "$WORK/create-osticket.json" application/json X-Unused x "$CONNS" >> "$RESULTS"
run_wrk light-direct "http://127.0.0.1:$UP/apirest.php/Ticket" POST "$WORK/create-osticket.json" application/json X-Unused x 1 >> "$RESULTS"
run_wrk light-forward "http://$FWD/api/tickets.json" POST "$WORK/create-osticket.json" application/json X-API-Key load-key 1 >> "$RESULTS"
run_wrk light-baseline "http://127.0.0.1:$PROXY/api/tickets.json" POST "$WORK/create-osticket.json" application/json X-Unused x 1 >> "$RESULTS"
run_wrk emb-create "http://$EMB/v1/tickets" POST "$WORK/create-canonical.json" application/json Authorization "Bearer load-key" "$CONNS" >> "$RESULTS"
run_wrk emb-get "http://$EMB/v1/tickets/1" GET "" "" Authorization "Bearer load-key" "$CONNS" >> "$RESULTS"
run_wrk emb-search "http://$EMB/v1/tickets?q=vpn&limit=10" GET "" "" Authorization "Bearer load-key" "$CONNS" >> "$RESULTS"
run_wrk email "http://$EMB/api/tickets.email" POST "$WORK/mail.eml" message/rfc822 X-API-Key load-key "$CONNS" >> "$RESULTS"

# One `ticketgate pipe` process, start to exit, against the embedded store (median of 20).
PIPE_MS=$(python3 - "$BIN" "$WORK/embedded.toml" "$WORK/pipe-data" "$WORK/mail.eml" <<'PY'
import subprocess, sys, time, statistics
bin_, config, data, mail = sys.argv[1:]
template = open(mail).read()
times = []
for i in range(21):
    msg = template.replace("{ID}", f"pipe-{i}").encode()
    t = time.perf_counter()
    r = subprocess.run([bin_, "pipe", "--config", config, "--data-dir", data], input=msg, capture_output=True)
    times.append((time.perf_counter() - t) * 1000)
    if r.returncode != 0:
        print(f"pipe exited {r.returncode}: {r.stderr.decode().strip()}", file=sys.stderr)
print(f"{statistics.median(times[1:]):.2f}")
PY
)

python3 - "$RESULTS" "$OUT" "$SECS" "$CONNS" "$PIPE_MS" <<'PY'
import sys, re
results, out, secs, conns, pipe_ms = sys.argv[1:]
rows = {}
for line in open(results):
    label, rest = line.split(" ", 1)
    rows[label] = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", rest)}
base = rows.get("baseline", {}).get("rps") or float("nan")
def ms(us): return f"{us/1000:.2f}"
names = {
  "forward": "1. osTicket JSON create → ticketgate → itsmng upstream (nginx)",
  "baseline": "2. nginx proxy_pass → same upstream (baseline)",
  "direct": "   direct to the upstream nginx (reference)",
  "emb-create": "3a. ticketgate embedded store: create",
  "emb-get": "3b. ticketgate embedded store: get",
  "emb-search": "3c. ticketgate embedded store: search",
  "email": "4. POST /api/tickets.email, 20 KB with attachment",
}
lines = [f"Load on loopback, {conns} connections, {secs} s per row, wrk -t2; latency in ms.", "",
         "| row | req/s | × row 2 | p50 | p99 | p99.9 | errors |", "|---|---:|---:|---:|---:|---:|---:|"]
for key, name in names.items():
    r = rows.get(key)
    if not r:
        lines.append(f"| {name} | (not measured) | | | | | |")
        continue
    lines.append(f"| {name} | {r['rps']:.0f} | {r['rps']/base:.2f} | {ms(r['p50'])} | {ms(r['p99'])} | {ms(r['p999'])} | {int(r['errors'])} |")
lines += ["", "Light load (one connection):", "", "| path | p50 | p99 |", "|---|---:|---:|"]
for key, name in [("light-direct", "direct to the upstream"), ("light-baseline", "through nginx proxy_pass"), ("light-forward", "through ticketgate (translate + forward)")]:
    r = rows.get(key)
    if r: lines.append(f"| {name} | {ms(r['p50'])} | {ms(r['p99'])} |")
d, f = rows.get("light-direct"), rows.get("light-forward")
if d and f:
    lines.append(f"\nAdded latency of ticketgate over a direct call at p50: {(f['p50']-d['p50'])/1000:.3f} ms.")
lines.append(f"\n`ticketgate pipe`, one 20 KB message with an attachment, start to exit: {pipe_ms} ms (median of 20).")
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
PY
echo "report written to $OUT"

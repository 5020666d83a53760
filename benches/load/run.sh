#!/usr/bin/env bash
# ticketgate's load harness: one command, loopback only, a Markdown table out.
#
#   benches/load/run.sh            # 10 s per row
#   benches/load/run.sh --short    # 3 s per row (what CI may run; never fails on noise)
#   benches/load/run.sh --cluster [--short]   # only the shared-state rows (benches/load/cluster.sh):
#                                  durable creates/s, SQLite vs 1, 2, 3 instances on PostgreSQL
#
# Rows (every throughput is also given as a ratio to row 2, measured in the same run):
#   1. translate-and-forward: osTicket JSON create -> ticketgate -> upstream of kind itsmng,
#      the upstream being nginx answering fixed ITSM-NG responses (initSession, the
#      requester's user look-up once, then POST /Ticket alone: the user is remembered,
#      and osTicket answers the number alone, so nothing is read back);
#   1b. canonical create answering the whole ticket: the same plus the reads of the
#      ticket after the create (row, actors, groups, follow-ups);
#   2. baseline: nginx proxy_pass (keep-alive upstream pool) in front of that same nginx;
#   3. ticketgate over its embedded store: create (durability full: one fsync per group
#      commit), get, search; and text searches over $LOAD_SEARCH_TICKETS (100 000) varied
#      tickets seeded beforehand by crates/store/examples/seed.rs;
#   4. email: messages/s through POST /api/tickets.email (20 KB with an attachment), and
#      the wall time of one `ticketgate pipe` process (median of 20 runs), delivering by
#      itself and handing the message to a running `serve` (pipe.sock).
# Plus: latency at light load (one connection) direct / via nginx / via ticketgate, and
# the resident memory of ticketgate holding 10,000 idle keep-alive connections.
#
# Needs nginx and wrk (Debian: nginx-light, wrk) and python3; installs nginx and wrk with
# apt-get when missing and it may (root), otherwise says what is missing and stops (exit 0).
# Environment: LOAD_CONNECTIONS (64), LOAD_IDLE (10000), LOAD_DURABILITY (full),
# LOAD_SEARCH_TICKETS (100000), LOAD_PROFILE=1 (perf records ticketgate during row 1 and
# writes the hottest functions to target/load-profile.txt).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SECS=10
SHORT=0
MODE=all
for arg in "$@"; do
  case "$arg" in
    --short) SECS=3; SHORT=1 ;;
    --cluster) MODE=cluster ;;
  esac
done
CONNS=${LOAD_CONNECTIONS:-64}
SEARCH_TICKETS=${LOAD_SEARCH_TICKETS:-100000}
IDLE=${LOAD_IDLE:-10000}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT="$ROOT/target/load-report.md"
mkdir -p "$ROOT/target"

skip() { echo "load: skipped: $*" >&2; exit 0; }

need() { # command package
  if command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "load: installing $2 with apt-get" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >/dev/null 2>&1 \
      || skip "$2 is not installed and apt-get could not install it"
  else
    skip "$1 is missing (Debian package $2); install it and run again"
  fi
}
command -v python3 >/dev/null 2>&1 || skip "python3 is missing"
command -v curl >/dev/null 2>&1 || need curl curl
need wrk wrk
need nginx nginx-light
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
# Room for the idle-connection row and a thousand-connection load.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d /tmp/ticketgate-load.XXXXXX)
cleanup() {
  # Every process started here leaves its pid in $WORK/*.pid (gateways are started in
  # command substitutions, so a shell array would not see them).
  for f in "$WORK"/*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 0.3
  rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM

[ -n "${LOAD_BIN:-}" ] || echo "load: building ticketgate (release)" >&2
[ -n "${LOAD_BIN:-}" ] || cargo build --release -q -p ticketgate || { echo "load: the build failed" >&2; exit 1; }
BIN=${LOAD_BIN:-$TARGET_DIR/release/ticketgate}
SEED=${LOAD_SEED_BIN:-$TARGET_DIR/release/examples/seed}
[ -n "${LOAD_SEED_BIN:-}" ] || cargo build --release -q -p ticketgate-store --example seed || { echo "load: the build of the seeder failed" >&2; exit 1; }

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP=$(port); PROXY=$(port)

# The upstream: a stand-in ITSM-NG answering every call ticketgate's itsmng client makes
# for a create with a fixed response of the right shape, so it costs the same in every row.
mkdir -p "$WORK/logs" "$WORK/nginx-tmp"
NGINX_COMMON="
worker_processes 1;
error_log $WORK/logs/error.log warn;
events { worker_connections 16384; }
"
NGINX_HTTP_COMMON="
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path $WORK/nginx-tmp/body;
  proxy_temp_path $WORK/nginx-tmp/proxy;
  fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
  scgi_temp_path $WORK/nginx-tmp/scgi;
"
ROW='{"id":4242,"entities_id":0,"name":"VPN drops every 20 minutes","content":"Since the client update my VPN connection drops roughly every 20 minutes.","status":1,"urgency":3,"impact":3,"priority":3,"type":1,"requesttypes_id":1,"users_id_recipient":0,"date":"2026-11-24 09:00:00","date_mod":"2026-11-24 09:00:00","date_creation":"2026-11-24 09:00:00","is_deleted":0}'
ACTORS='[{"id":1,"tickets_id":4242,"users_id":0,"type":1,"use_notification":1,"alternative_email":"angela.smith@example.com"}]'
cat > "$WORK/nginx-up.conf" <<NGX
$NGINX_COMMON
pid $WORK/nginx-up.pid;
http {
$NGINX_HTTP_COMMON
  server {
    listen 127.0.0.1:$UP backlog=4096;
    default_type application/json;
    location = /apirest.php/initSession { return 200 '{"session_token":"load-session"}'; }
    location = /apirest.php/killSession { return 200 ''; }
    location = /apirest.php/search/User { return 200 '{"totalcount":1,"count":1,"data":[{"2":7,"5":"angela.smith@example.com"}]}'; }
    location = /apirest.php/Ticket {
      add_header Location "http://127.0.0.1:$UP/apirest.php/Ticket/4242" always;
      return 201 '{"id":4242,"message":""}';
    }
    location ~ ^/apirest\.php/Ticket/[0-9]+/Ticket_User\$ { return 200 '$ACTORS'; }
    location ~ ^/apirest\.php/Ticket/[0-9]+/ITILFollowup\$ { return 200 '[]'; }
    location ~ ^/apirest\.php/Ticket/[0-9]+\$ { return 200 '$ROW'; }
    location / { return 200 '[]'; }
  }
}
NGX
# The baseline: what a user would deploy instead, a plain reverse proxy with a
# keep-alive pool toward the same upstream.
cat > "$WORK/nginx-proxy.conf" <<NGX
$NGINX_COMMON
pid $WORK/nginx-proxy.pid;
http {
$NGINX_HTTP_COMMON
  upstream helpdesk { server 127.0.0.1:$UP; keepalive 256; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$PROXY backlog=4096;
    location = /api/tickets.json {
      proxy_pass http://helpdesk/apirest.php/Ticket;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGX
"$NGINX" -c "$WORK/nginx-up.conf" -e "$WORK/logs/error.log" || skip "nginx (upstream) did not start"
"$NGINX" -c "$WORK/nginx-proxy.conf" -e "$WORK/logs/error.log" || skip "nginx (proxy) did not start"

# A bench consumer whose quotas never throttle the load; logs at warn.
CONSUMER='
[server]
log_format = "text"
max_connections = 20000
[rate_limits]
global = { per_second = 10000000.0, burst = 10000000 }
[pipe]
consumer = "load"
[[consumers]]
name = "load"
bearer_key = "load-key"
osticket_key = "load-key"
permissions = ["create", "read", "update", "search", "stats"]
networks = ["127.0.0.0/8"]
quota.create = { per_second = 10000000.0, burst = 10000000 }
quota.read = { per_second = 10000000.0, burst = 10000000 }
quota.write = { per_second = 10000000.0, burst = 10000000 }
quota.search = { per_second = 10000000.0, burst = 10000000 }
[dialects.canonical]
prefix = "/v1"
[dialects.osticket]
prefix = "/api"
'
PROTECT='protection = { concurrency = 1024, queue = 100000 }'
cat > "$WORK/forward.toml" <<TOML
$CONSUMER
[upstreams.itsm]
kind = "itsmng"
url = "http://127.0.0.1:$UP/apirest.php"
user_token = "load-token"
$PROTECT
[routing]
default = "itsm"
TOML
cat > "$WORK/embedded.toml" <<TOML
$CONSUMER
[upstreams.embedded]
kind = "embedded"
durability = "${LOAD_DURABILITY:-full}"
$PROTECT
[routing]
default = "embedded"
TOML

start_gateway() { # config data-dir -> prints address; the pid goes to data-dir.pid
  mkdir -p "$2"
  TICKETGATE_LOG=warn "$BIN" serve --config "$1" --data-dir "$2" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 > "$2.out" 2>"$2.err" &
  local pid=$!
  echo "$pid" > "$2.pid"
  for _ in $(seq 200); do
    grep -q '^listening on ' "$2.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  sed -n 's/^listening on //p' "$2.out"
}
if [ "$MODE" = cluster ]; then
  # shellcheck source=benches/load/cluster.sh
  source benches/load/cluster.sh
  exit 0
fi
echo "load: seeding $SEARCH_TICKETS tickets for the search rows" >&2
"$SEED" "$WORK/big" "$SEARCH_TICKETS" || { echo "load: seeding failed" >&2; exit 1; }
FWD=$(start_gateway "$WORK/forward.toml" "$WORK/fwd")
EMB=$(start_gateway "$WORK/embedded.toml" "$WORK/emb")
BIG=$(start_gateway "$WORK/embedded.toml" "$WORK/big")
[ -n "$FWD" ] && [ -n "$EMB" ] && [ -n "$BIG" ] || { cat "$WORK"/*.err >&2; echo "load: ticketgate did not start" >&2; exit 1; }

cat > "$WORK/create-osticket.json" <<'JSON'
{"name": "Angela Smith", "email": "angela.smith@example.com", "subject": "VPN drops every 20 minutes", "message": "Since the client update my VPN connection drops roughly every 20 minutes.", "phone": "318-555-8634X123", "ip": "192.0.2.10", "priority": 3}
JSON
cat > "$WORK/create-canonical.json" <<'JSON'
{"subject": "VPN drops every 20 minutes", "body": "Since the client update my VPN connection drops roughly every 20 minutes.", "requester": {"name": "Angela Smith", "email": "angela.smith@example.com"}, "department": "IT", "priority": "high"}
JSON
# Toward ITSM-NG: no department (that would be a group look-up the stand-in has no answer for).
cat > "$WORK/create-canonical-fwd.json" <<'JSON'
{"subject": "VPN drops every 20 minutes", "body": "Since the client update my VPN connection drops roughly every 20 minutes.", "requester": {"name": "Angela Smith", "email": "angela.smith@example.com"}, "priority": "high"}
JSON
python3 - "$WORK/mail.eml" <<'PY'
import base64, sys
att = base64.encodebytes(bytes(range(256)) * 48).decode()  # 12 KB of attachment, ~16 KB encoded
body = "Hello,\n\nmy laptop will not connect to the office Wi-Fi since this morning.\n" * 48
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
MAIL_BYTES=$(wc -c < "$WORK/mail.eml")

RESULTS="$WORK/results.txt"
: > "$RESULTS"
run_wrk() { # label url method body content-type auth-header auth-value connections
  local threads=2
  [ "$8" -lt 2 ] && threads=1
  local out
  out=$(WRK_METHOD=$3 WRK_BODY_FILE=$4 WRK_CONTENT_TYPE=$5 WRK_AUTH_HEADER=$6 WRK_AUTH_VALUE=$7 \
    wrk -t"$threads" -c"$8" -d"${SECS}s" --timeout 5s --latency -s benches/load/report.lua "$2" 2>&1)
  local line
  line=$(printf '%s\n' "$out" | sed -n 's/^RESULT //p')
  if [ -n "$line" ]; then echo "$1 $line" >> "$RESULTS"; else echo "load: wrk failed for $1: $out" >&2; fi
}
status_of() { # method url body content-type auth-header auth-value -> HTTP status
  curl -s -o "$WORK/probe.out" -w '%{http_code}' -X "$1" "$2" -H "$5: $6" -H "Content-Type: $4" \
    ${3:+--data-binary @"$3"} || echo 000
}

# Warm up every path (connections, caches, the upstream session) and check it answers.
for _ in 1 2 3; do
  status_of POST "http://$FWD/api/tickets.json" "$WORK/create-osticket.json" application/json X-API-Key load-key >/dev/null
  status_of POST "http://$FWD/v1/tickets" "$WORK/create-canonical-fwd.json" application/json Authorization "Bearer load-key" >/dev/null
  status_of POST "http://127.0.0.1:$PROXY/api/tickets.json" "$WORK/create-osticket.json" application/json X-Unused x >/dev/null
  status_of POST "http://$EMB/v1/tickets" "$WORK/create-canonical.json" application/json Authorization "Bearer load-key" >/dev/null
done
FWD_STATUS=$(status_of POST "http://$FWD/api/tickets.json" "$WORK/create-osticket.json" application/json X-API-Key load-key)
FWD_BODY=$(head -c 200 "$WORK/probe.out")
FULL_STATUS=$(status_of POST "http://$FWD/v1/tickets" "$WORK/create-canonical-fwd.json" application/json Authorization "Bearer load-key")
[ "$FULL_STATUS" = 201 ] || echo "load: the canonical create through ITSM-NG answers $FULL_STATUS: $(head -c 300 "$WORK/probe.out")" >&2
sed 's/{ID}/probe/' "$WORK/mail.eml" > "$WORK/mail-probe.eml"
MAIL_STATUS=$(status_of POST "http://$EMB/api/tickets.email" "$WORK/mail-probe.eml" message/rfc822 X-API-Key load-key)
MAIL_BODY=$(head -c 200 "$WORK/probe.out" | tr '\r\n' '  ')
echo "load: forward create answers $FWD_STATUS ($FWD_BODY); tickets.email answers $MAIL_STATUS ($MAIL_BODY)" >&2

echo "load: measuring, ${SECS}s per row" >&2
run_wrk baseline "http://127.0.0.1:$PROXY/api/tickets.json" POST "$WORK/create-osticket.json" application/json X-Unused x "$CONNS"
PERF_PID=""
if [ "${LOAD_PROFILE:-0}" = 1 ] && command -v perf >/dev/null 2>&1; then
  perf record -q -F 199 --call-graph dwarf,16384 -p "$(cat "$WORK/fwd.pid")" -o "$WORK/perf.data" -- sleep "$SECS" >/dev/null 2>&1 &
  PERF_PID=$!
fi
run_wrk forward "http://$FWD/api/tickets.json" POST "$WORK/create-osticket.json" application/json X-API-Key load-key "$CONNS"
if [ -n "$PERF_PID" ]; then
  wait "$PERF_PID"
  { echo "perf: ticketgate during row 1 (osTicket create -> ITSM-NG), self time by function"
    perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 0.7 2>/dev/null | grep -v '^$' | grep -E '^ +[0-9]' | head -60
    echo
    echo "perf: the same, with callees (children), by function"
    perf report -i "$WORK/perf.data" --stdio --children --sort symbol --percent-limit 4 -g none 2>/dev/null | grep -E '^ +[0-9]' | head -60
    echo
    echo "perf: who calls the hottest user-space functions (memmove, malloc, free)"
    perf report -i "$WORK/perf.data" --stdio --no-children --sort symbol -g caller,0.5,callee,function,percent \
      --symbols=__memmove_avx512_unaligned_erms,_int_malloc,_int_free 2>/dev/null | grep -v '^$' | grep -v '^#' | head -120
  } > "$ROOT/target/load-profile.txt"
  cp "$WORK/perf.data" "$ROOT/target/load-perf.data" 2>/dev/null || true
  echo "load: profile written to target/load-profile.txt" >&2
fi
run_wrk forward-full "http://$FWD/v1/tickets" POST "$WORK/create-canonical-fwd.json" application/json Authorization "Bearer load-key" "$CONNS"
run_wrk direct "http://127.0.0.1:$UP/apirest.php/Ticket" POST "$WORK/create-osticket.json" application/json X-Unused x "$CONNS"
run_wrk edge "http://$FWD/healthz" GET "" "" X-Unused x "$CONNS"
run_wrk light-direct "http://127.0.0.1:$UP/apirest.php/Ticket" POST "$WORK/create-osticket.json" application/json X-Unused x 1
run_wrk light-baseline "http://127.0.0.1:$PROXY/api/tickets.json" POST "$WORK/create-osticket.json" application/json X-Unused x 1
run_wrk light-forward "http://$FWD/api/tickets.json" POST "$WORK/create-osticket.json" application/json X-API-Key load-key 1
run_wrk light-forward-full "http://$FWD/v1/tickets" POST "$WORK/create-canonical-fwd.json" application/json Authorization "Bearer load-key" 1
run_wrk emb-create "http://$EMB/v1/tickets" POST "$WORK/create-canonical.json" application/json Authorization "Bearer load-key" "$CONNS"
run_wrk emb-get "http://$EMB/v1/tickets/1" GET "" "" Authorization "Bearer load-key" "$CONNS"
run_wrk emb-search "http://$EMB/v1/tickets?q=vpn&limit=10" GET "" "" Authorization "Bearer load-key" "$CONNS"
# Over the seeded tickets: a phrase few match (~0.2%), a word 1 in 40 has, and a word
# in all of them; newest first, a page of 10 and the total.
run_wrk big-rare "http://$BIG/v1/tickets?q=printer%20stopped&limit=10" GET "" "" Authorization "Bearer load-key" "$CONNS"
run_wrk big-word "http://$BIG/v1/tickets?q=printer&limit=10" GET "" "" Authorization "Bearer load-key" "$CONNS"
run_wrk big-all "http://$BIG/v1/tickets?q=regards&limit=10" GET "" "" Authorization "Bearer load-key" "$CONNS"
run_wrk big-get "http://$BIG/v1/tickets/4242" GET "" "" Authorization "Bearer load-key" "$CONNS"
run_wrk email "http://$EMB/api/tickets.email" POST "$WORK/mail.eml" message/rfc822 X-API-Key load-key "$CONNS"

# One `ticketgate pipe` process, start to exit, against the embedded store (median of 20):
# delivering by itself (no `serve` on its data directory), then handing the message to
# the `serve` of rows 3a-3c, which is running on its data directory.
pipe_median() { # data-dir label -> "median|exit codes|last error"
python3 - "$BIN" "$WORK/embedded.toml" "$1" "$WORK/mail.eml" "$2" <<'PY'
import os, subprocess, sys, time, statistics
bin_, config, data, mail, label = sys.argv[1:]
os.makedirs(data, exist_ok=True)
template = open(mail).read()
times, codes, err = [], {}, ""
for i in range(21):
    msg = template.replace("{ID}", f"pipe-{label}-{i}").encode()
    t = time.perf_counter()
    r = subprocess.run([bin_, "pipe", "--config", config, "--data-dir", data], input=msg,
                       capture_output=True, env=dict(os.environ, TICKETGATE_LOG="warn"))
    times.append((time.perf_counter() - t) * 1000)
    codes[r.returncode] = codes.get(r.returncode, 0) + 1
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        err = err[0][:160]
print(f"{statistics.median(times[1:]):.2f}|{' '.join(f'exit {k}: {v}' for k, v in sorted(codes.items()))}|{err}")
PY
}
PIPE="$(pipe_median "$WORK/pipe-data" alone)#$(pipe_median "$WORK/emb" handed)"

# Resident memory holding $IDLE idle keep-alive connections (a fresh gateway).
IDLE_ADDR=$(start_gateway "$WORK/embedded.toml" "$WORK/idle")
IDLE_PID=$(cat "$WORK/idle.pid")
IDLE_RESULT=""
if [ -n "$IDLE_ADDR" ]; then
  IDLE_RESULT=$(python3 benches/load/idle.py "${IDLE_ADDR%:*}" "${IDLE_ADDR##*:}" "$IDLE_PID" "$IDLE" 2>&1 | tail -1)
fi

python3 - "$RESULTS" "$OUT" "$SECS" "$CONNS" "$PIPE" "$IDLE" "$IDLE_RESULT" "$FWD_STATUS" "$MAIL_STATUS" "$MAIL_BODY" "$MAIL_BYTES" "$(nproc)" "$SEARCH_TICKETS" <<'PY'
import sys, re
(results, out, secs, conns, pipe, idle_n, idle, fwd_status, mail_status, mail_body,
 mail_bytes, cores, search_n) = sys.argv[1:]
rows = {}
for line in open(results):
    label, rest = line.split(" ", 1)
    rows[label] = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", rest)}
base = rows.get("baseline", {}).get("rps") or float("nan")
def ms(us): return f"{us/1000:.2f}"
names = {
  "forward": "1. osTicket JSON create → ticketgate → itsmng upstream (nginx): one upstream call",
  "forward-full": "1b. canonical create answering the whole ticket → itsmng: create + 4 reads back",
  "baseline": "2. nginx proxy_pass → same upstream (baseline)",
  "direct": "   direct to the upstream nginx (reference)",
  "edge": "   ticketgate `GET /healthz`: its HTTP edge alone (reference)",
  "emb-create": "3a. ticketgate, embedded store: create (canonical)",
  "emb-get": "3b. ticketgate, embedded store: get",
  "emb-search": "3c. ticketgate, embedded store: search (text matching every ticket the create row made)",
  "big-get": f"3d. embedded store of {int(search_n):,} tickets: get",
  "big-rare": f"3e. embedded store of {int(search_n):,} tickets: text search, a phrase ~0.2% match",
  "big-word": f"3f. embedded store of {int(search_n):,} tickets: text search, a word 1 in 40 has",
  "big-all": f"3g. embedded store of {int(search_n):,} tickets: text search, a word every ticket has",
  "email": f"4. POST /api/tickets.email, {int(mail_bytes)//1024} KB with an attachment",
}
lines = [f"Loopback, {conns} connections, {secs} s per row, wrk; {cores} cores shared with the "
         "load generator and nginx; latency in ms; `errors` counts non-2xx/3xx answers and "
         "socket errors.", "",
         "| row | req/s | × row 2 | p50 | p99 | p99.9 | errors |", "|---|---:|---:|---:|---:|---:|---:|"]
for key, name in names.items():
    r = rows.get(key)
    if not r:
        lines.append(f"| {name} | (not measured) | | | | | |")
        continue
    note = ""
    if key == "email" and not mail_status.startswith("2"):
        note = f" (ingestion answers {mail_status}: not yet wired)"
    if key == "forward" and not fwd_status.startswith("2"):
        note = f" (create answers {fwd_status})"
    lines.append(f"| {name}{note} | {r['rps']:.0f} | {r['rps']/base:.2f} | {ms(r['p50'])} | {ms(r['p99'])} | {ms(r['p999'])} | {int(r['errors'])} |")
lines += ["", "Light load (one connection, closed loop):", "", "| path | req/s | p50 | p99 | p99.9 |", "|---|---:|---:|---:|---:|"]
for key, name in [("light-direct", "direct to the upstream (1 call)"),
                  ("light-baseline", "through nginx proxy_pass (1 upstream call)"),
                  ("light-forward", "through ticketgate, osTicket create (1 upstream call)"),
                  ("light-forward-full", "through ticketgate, canonical create read back (5 upstream calls)")]:
    r = rows.get(key)
    if r: lines.append(f"| {name} | {r['rps']:.0f} | {ms(r['p50'])} | {ms(r['p99'])} | {ms(r['p999'])} |")
d, f, b = rows.get("light-direct"), rows.get("light-forward"), rows.get("light-baseline")
fl = rows.get("light-forward-full")
if d and f:
    lines.append(f"\nAdded latency at p50 over a direct call: ticketgate {(f['p50']-d['p50'])/1000:.3f} ms"
                 + (f" ({(fl['p50']-d['p50'])/1000:.3f} ms for a canonical create read back)" if fl else "")
                 + (f", nginx proxy_pass {(b['p50']-d['p50'])/1000:.3f} ms." if b else "."))
alone, handed = (pipe.split("#", 1) + [""])[:2]
for run, how in [(alone, "delivering by itself (no `serve` on its data directory)"),
                 (handed, "handing it to the running `serve` of rows 3a-3c")]:
    median, codes, err = (run.split("|", 2) + ["", ""])[:3]
    lines.append(f"\n`ticketgate pipe`, one {int(mail_bytes)//1024} KB message with an attachment, {how}, process start to exit: "
                 f"{median} ms (median of 20; {codes}{'; last error: ' + err if err else ''}).")
m = dict(re.findall(r"(\w+)=(\d+)", idle))
if m:
    lines.append(f"\nIdle keep-alive connections: {m['opened']} of {idle_n} held open; ticketgate RSS "
                 f"{int(m['rss_kb'])/1024:.1f} MiB (peak {int(m['hwm_kb'])/1024:.1f} MiB; "
                 f"{int(m['base_kb'])/1024:.1f} MiB before).")
else:
    lines.append(f"\nIdle keep-alive connections: not measured ({idle or 'no output'}).")
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
PY
echo "load: report written to $OUT" >&2

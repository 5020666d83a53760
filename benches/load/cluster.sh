# benches/load/run.sh --cluster: durable acknowledged creates per second, the state on
# SQLite (the default, one instance) against PostgreSQL with one, two and three instances,
# in one run. Sourced by run.sh (it provides BIN, WORK, CONSUMER, SECS, CONNS, ROOT,
# start_gateway, port and skip).
#
# The upstream is down (a closed port) for the whole run, so every create is an outbox
# commit acknowledged with 202: what is measured is the state backend, not a helpdesk.
# With N instances the same CONNS connections are split across them (one wrk each, all
# at once), and the rows add their rates. Needs psql and a PostgreSQL whose user may
# create databases (TICKETGATE_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test).

command -v psql >/dev/null 2>&1 || skip "psql is missing (Debian package postgresql-client)"
PGURL=${TICKETGATE_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
PGBASE=${PGURL%%\?*}
PGBASE=${PGBASE%/*}
psql -q "$PGURL" -c 'SELECT 1' >/dev/null 2>&1 || skip "no PostgreSQL answers at TICKETGATE_POSTGRES_URL"
DEAD=$(port)   # nothing listens there: the upstream is down
CLUSTER_OUT="$ROOT/target/load-cluster-report.md"
DBS=""
drop_dbs() { for db in $DBS; do psql -q "$PGURL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; done; }

cluster_config() { # state-block -> config text
  cat <<TOML
$CONSUMER
$1
[upstreams.central]
kind = "ticketgate"
url = "http://127.0.0.1:$DEAD/v1"
bearer_key = "load-key"
connect_timeout_ms = 200
protection = { concurrency = 1024, queue = 100000 }
[routing]
default = "central"
[outbox]
initial_backoff_ms = 60000
max_backoff_ms = 300000
TOML
}

cat > "$WORK/cluster-create.json" <<'JSON'
{"subject": "VPN drops every 20 minutes", "body": "Since the client update my VPN connection drops roughly every 20 minutes.", "requester": {"name": "Angela Smith", "email": "angela.smith@example.com"}}
JSON

# row label, then the addresses: wrk on each at once, CONNS split between them.
measure() {
  local label=$1; shift
  local n=$# i=0 per=$(( CONNS / $# ))
  [ "$per" -ge 1 ] || per=1
  for addr in "$@"; do
    # Check it answers 202 (queued durably) before measuring.
    local s
    s=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$addr/v1/tickets" \
      -H 'Authorization: Bearer load-key' -H 'Content-Type: application/json' --data-binary @"$WORK/cluster-create.json")
    [ "$s" = 202 ] || echo "load: $label: a create answers $s, not 202" >&2
  done
  for addr in "$@"; do
    i=$((i + 1))
    ( WRK_METHOD=POST WRK_BODY_FILE="$WORK/cluster-create.json" WRK_CONTENT_TYPE=application/json \
        WRK_AUTH_HEADER=Authorization WRK_AUTH_VALUE="Bearer load-key" \
        wrk -t1 -c"$per" -d"${SECS}s" --timeout 5s --latency -s benches/load/report.lua "http://$addr/v1/tickets" 2>&1 \
        | sed -n 's/^RESULT //p' > "$WORK/cluster-$label-$i.txt" ) &
  done
  wait
  python3 - "$label" "$n" "$WORK"/cluster-"$label"-*.txt >> "$WORK/cluster-results.txt" <<'PY'
import re, sys
label, n, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rps = errors = 0.0
p50 = []; p99 = []
for f in files:
    r = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", open(f).read())}
    if not r: continue
    rps += r["rps"]; errors += r["errors"]; p50.append(r["p50"]); p99.append(r["p99"])
print(f"{label}|{n}|{rps:.0f}|{max(p50)/1000 if p50 else 0:.1f}|{max(p99)/1000 if p99 else 0:.1f}|{errors:.0f}")
PY
}

: > "$WORK/cluster-results.txt"
echo "load: cluster mode: ${SECS}s per row, $CONNS connections in all, upstream down" >&2
# SQLite, the default: one instance, gateway.sqlite with synchronous=FULL.
cluster_config "" > "$WORK/cluster-sqlite.toml"
A=$(start_gateway "$WORK/cluster-sqlite.toml" "$WORK/cl-sqlite")
[ -n "$A" ] || { cat "$WORK/cl-sqlite.err" >&2; skip "the SQLite gateway did not start"; }
measure sqlite "$A"
kill "$(cat "$WORK/cl-sqlite.pid")" 2>/dev/null
for n in 1 2 3; do
  db=ticketgate_load_$$_$n
  psql -q "$PGURL" -c "CREATE DATABASE $db" >/dev/null || { drop_dbs; skip "cannot create a database"; }
  DBS="$DBS $db"
  cluster_config "[state]
backend = \"postgres\"
url = \"$PGBASE/$db\"
pool_size = 16" > "$WORK/cluster-pg.toml"
  addrs=()
  for i in $(seq "$n"); do
    a=$(start_gateway "$WORK/cluster-pg.toml" "$WORK/cl-pg$n-$i")
    [ -n "$a" ] || { cat "$WORK/cl-pg$n-$i.err" >&2; drop_dbs; skip "a PostgreSQL gateway did not start"; }
    addrs+=("$a")
  done
  measure "postgres-$n" "${addrs[@]}"
  for i in $(seq "$n"); do kill "$(cat "$WORK/cl-pg$n-$i.pid")" 2>/dev/null; done
  sleep 0.5
  # Every 202 is a row in the shared outbox.
  kept=$(psql -qtA "$PGBASE/$db" -c "SELECT count(*) FROM outbox WHERE state = 'pending'" 2>/dev/null)
  echo "load: postgres-$n: $kept items kept in the shared outbox" >&2
done
drop_dbs

python3 - "$WORK/cluster-results.txt" "$CLUSTER_OUT" "$SECS" "$CONNS" "$(nproc)" <<'PY'
import sys
results, out, secs, conns, cores = sys.argv[1:]
rows = [l.strip().split("|") for l in open(results) if l.strip()]
base = next((float(r[2]) for r in rows if r[0] == "sqlite"), float("nan"))
lines = [f"Durable acknowledged creates (canonical `POST /v1/tickets`, the upstream down so each "
         f"is an outbox commit answered 202): {conns} connections in all, {secs} s per row, wrk, "
         f"loopback; {cores} cores shared by PostgreSQL, every instance and the load generator.", "",
         "| state | instances | creates/s | × SQLite | worst p50 (ms) | worst p99 (ms) | errors |",
         "|---|---:|---:|---:|---:|---:|---:|"]
for label, n, rps, p50, p99, err in rows:
    name = "SQLite (default, synchronous=FULL)" if label == "sqlite" else "PostgreSQL (shared)"
    lines.append(f"| {name} | {n} | {float(rps):.0f} | {float(rps)/base:.2f} | {p50} | {p99} | {err} |")
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
PY
echo "load: report written to $CLUSTER_OUT" >&2

# PostgreSQL from Debian's packages, on loopback, for the shared-state tests
# (tests/cluster.rs, the state tests of crates/store and the outbox tests that also run
# on PostgreSQL). Idempotent: installs the package only when missing, starts the cluster
# only when it is down. The tests create a database of their own each and drop it.
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /etc/postgresql/*/main/pg_hba.conf >/dev/null 2>&1; then
  apt_update_once
  apt-get install -y -q postgresql >/dev/null
fi
pg_version=$(ls /etc/postgresql | sort -V | tail -1)
pg_hba=/etc/postgresql/$pg_version/main/pg_hba.conf
# The tests connect as postgres over TCP on loopback without a password.
if ! grep -q 'ticketgate-ci' "$pg_hba"; then
  sed -i '1i host all postgres 127.0.0.1/32 trust # ticketgate-ci\nhost all postgres ::1/128 trust # ticketgate-ci' "$pg_hba"
  pg_ctlcluster "$pg_version" main status >/dev/null 2>&1 && pg_ctlcluster "$pg_version" main reload
fi
pg_ctlcluster "$pg_version" main status >/dev/null 2>&1 || pg_ctlcluster "$pg_version" main start
for _ in $(seq 50); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 0.2
done
pg_isready -h 127.0.0.1 -p 5432
psql -qtA -h 127.0.0.1 -U postgres -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
  || psql -q -h 127.0.0.1 -U postgres -d postgres -c 'CREATE DATABASE test'
export TICKETGATE_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test

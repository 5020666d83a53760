# Redis 7 from Debian's packages for the shared rate limits (tests/shared_limits.rs).
# The tests start their own redis-server on a spare loopback port (and stop and restart
# it mid-run), so only the binary is needed: the system service is not started.
if ! command -v redis-server >/dev/null; then
  apt_update_once
  apt-get install -y -q --no-install-recommends redis-server >/dev/null
fi
export TICKETGATE_REDIS_SERVER=${TICKETGATE_REDIS_SERVER:-$(command -v redis-server)}
"$TICKETGATE_REDIS_SERVER" --version

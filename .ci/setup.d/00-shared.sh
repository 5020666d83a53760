# The live vendors' scripts live in ../shared beside the checkout (TICKETGATE_SHARED overrides).
export TICKETGATE_SHARED=${TICKETGATE_SHARED:-$(cd .. && pwd)/shared}
[ -d "$TICKETGATE_SHARED/osticket-live" ] || { echo "ci: $TICKETGATE_SHARED/osticket-live is missing" >&2; exit 1; }
command -v flock >/dev/null || apt-get install -y -q util-linux >/dev/null
apt_updated=${apt_updated:-}
apt_update_once() { [ -n "$apt_updated" ] || { apt-get update -q >/dev/null; apt_updated=1; }; }

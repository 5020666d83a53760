# The real osTicket 1.18.1, core API only (127.0.0.1:18080), and a second instance with
# the real API-Endpoints plugin (127.0.0.1:18081): the judges of the osTicket dialect.
apt_update_once
eval "$(OSTICKET_PLUGIN=0 bash "$TICKETGATE_SHARED/osticket-live/up.sh")"
OSTICKET_PLUGIN=1 OSTICKET_LIVE_DIR=/tmp/osticket-live-plugin OSTICKET_WEB_PORT=18081 OSTICKET_DB_PORT=13307 \
  bash "$TICKETGATE_SHARED/osticket-live/up.sh" >/dev/null

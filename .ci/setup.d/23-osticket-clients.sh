# The osTicket client library on PyPI the osTicket face is judged by (pyosticket; no
# usable one is on npm), pinned, in the clients' venv that 21-glpi-clients.sh made.
# tests/live_osticket_diff.rs runs tests/clients/pyosticket_workflow.py with it.
export TICKETGATE_CLIENTS=${TICKETGATE_CLIENTS:-/tmp/ticketgate-clients}
[ -x "$TICKETGATE_CLIENTS/venv/bin/python" ] || python3 -m venv "$TICKETGATE_CLIENTS/venv"
"$TICKETGATE_CLIENTS/venv/bin/pip" install -q --disable-pip-version-check 'pyosticket==0.1.0'

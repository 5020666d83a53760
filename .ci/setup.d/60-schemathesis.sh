# schemathesis (PyPI, pinned) runs against the running gateway's /v1/openapi.json in
# tests/openapi.rs; it lives in its own virtualenv so it never touches the system Python.
TICKETGATE_SCHEMATHESIS_VENV=${TICKETGATE_SCHEMATHESIS_VENV:-/tmp/ticketgate-schemathesis}
if [ ! -x "$TICKETGATE_SCHEMATHESIS_VENV/bin/st" ]; then
  python3 -m venv "$TICKETGATE_SCHEMATHESIS_VENV"
  "$TICKETGATE_SCHEMATHESIS_VENV/bin/pip" install -q 'schemathesis==4.32.5'
fi
export TICKETGATE_SCHEMATHESIS="$TICKETGATE_SCHEMATHESIS_VENV/bin/st"
"$TICKETGATE_SCHEMATHESIS" --version

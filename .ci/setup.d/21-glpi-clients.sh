# The published GLPI REST client libraries on PyPI the ITSM-NG face is judged by
# (glpi-api, glpi-provider and glpi), pinned, in a venv of their own (idempotent: a
# second run only checks the pins).
# tests/differential_glpi.rs runs tests/clients/*.py with this interpreter.
export TICKETGATE_CLIENTS=${TICKETGATE_CLIENTS:-/tmp/ticketgate-clients}
command -v python3 >/dev/null || { apt_update_once; apt-get install -y -q python3 python3-venv >/dev/null; }
python3 -c 'import venv, ensurepip' 2>/dev/null || { apt_update_once; apt-get install -y -q python3-venv >/dev/null; }
mkdir -p "$TICKETGATE_CLIENTS"
[ -x "$TICKETGATE_CLIENTS/venv/bin/python" ] || python3 -m venv "$TICKETGATE_CLIENTS/venv"
"$TICKETGATE_CLIENTS/venv/bin/pip" install -q --disable-pip-version-check 'glpi-api==0.7.0' 'glpi-provider==0.3.9' 'glpi==0.4.0'

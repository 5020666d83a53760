# Request Tracker's own clients, which the RT face (/REST/2.0 and the mail gateway) is
# judged by: the PyPI `rt` library, pinned, in a venv of its own, and Debian's
# `rt-mailgate` (package rt5-clients). Idempotent: a second run only checks the pin.
# tests/rt_clients.rs runs tests/clients/rt_workflow.py with $TICKETGATE_RT_PYTHON and
# pipes mail through $TICKETGATE_RT_MAILGATE.
export TICKETGATE_RT_CLIENTS=${TICKETGATE_RT_CLIENTS:-/tmp/ticketgate-rt-clients}
command -v python3 >/dev/null || { apt_update_once; apt-get install -y -q python3 python3-venv >/dev/null; }
python3 -c 'import venv, ensurepip' 2>/dev/null || { apt_update_once; apt-get install -y -q python3-venv >/dev/null; }
mkdir -p "$TICKETGATE_RT_CLIENTS"
[ -x "$TICKETGATE_RT_CLIENTS/venv/bin/python" ] || python3 -m venv "$TICKETGATE_RT_CLIENTS/venv"
"$TICKETGATE_RT_CLIENTS/venv/bin/pip" install -q --disable-pip-version-check 'rt==3.8.1'
export TICKETGATE_RT_PYTHON="$TICKETGATE_RT_CLIENTS/venv/bin/python"
# rt-mailgate: the packaged client a mail server runs. ../shared/rt-live/up.sh installs it
# with the RT server; on its own it is one small package (its MTA dependency aside).
if ! command -v rt-mailgate >/dev/null && ! command -v rt-mailgate-5 >/dev/null; then
  apt_update_once
  apt-get install -y -q -o DPkg::Lock::Timeout=900 --no-install-recommends rt5-clients >/dev/null
fi
TICKETGATE_RT_MAILGATE=$(command -v rt-mailgate || command -v rt-mailgate-5)
export TICKETGATE_RT_MAILGATE

# Headless Chromium from Debian for tests/status_page.rs (the admin status page in a
# real browser). Installed once (about a minute); later runs only find it.
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null ||
    echo "setup: chromium could not be installed; tests/status_page.rs will fail" >&2
fi
if command -v chromium >/dev/null 2>&1; then
  TICKETGATE_CHROMIUM="${TICKETGATE_CHROMIUM:-$(command -v chromium)}"
  export TICKETGATE_CHROMIUM
  "$TICKETGATE_CHROMIUM" --version 2>/dev/null
fi

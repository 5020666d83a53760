# The npm GLPI REST client libraries the ITSM-NG face is judged by (`glpi-api` and
# `glpi-client`), pinned with every dependency by tests/clients/npm/package-lock.json,
# installed with `npm ci` into a directory of their own (idempotent: a second run with
# the same lock file does nothing). Node.js and npm come from Debian when missing.
# tests/differential_glpi.rs runs tests/clients/npm_*.js with NODE_PATH set to
# $TICKETGATE_NPM_CLIENTS/node_modules.
export TICKETGATE_NPM_CLIENTS=${TICKETGATE_NPM_CLIENTS:-/tmp/ticketgate-npm-clients}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_update_once
  apt-get install -y -q -o DPkg::Lock::Timeout=900 --no-install-recommends nodejs npm >/dev/null
fi
mkdir -p "$TICKETGATE_NPM_CLIENTS"
if ! cmp -s tests/clients/npm/package-lock.json "$TICKETGATE_NPM_CLIENTS/package-lock.json" \
  || [ ! -d "$TICKETGATE_NPM_CLIENTS/node_modules/glpi-client" ]; then
  cp tests/clients/npm/package.json tests/clients/npm/package-lock.json "$TICKETGATE_NPM_CLIENTS/"
  (cd "$TICKETGATE_NPM_CLIENTS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
node --version

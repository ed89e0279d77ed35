#!/usr/bin/env bash
# What `npm test` needs from the machine, set up where it is missing (`npm test` runs this first as
# its pretest step; .ci/run runs `npm test`). Silent when everything is there; safe to run again.
#  - PostgreSQL on 127.0.0.1:5432, started with the machine's own command if its port is closed
#    (the tests make a fresh database each; with TEST_PG_URL they go elsewhere and it is left alone).
#  - /usr/sbin/nats-server: the JetStream tests start private servers from it (NATS_SERVER_BIN).
#    The machine's own NATS on 4222 is started too when run as root, as CI always did; no test
#    uses it.
#  - Debian's chromium (the /live page test drives it; CHROMIUM_PATH names another) and
#    mosquitto-clients (the MQTT tests publish with mosquitto_pub as well as mqtt.js).
#    poppler-utils (pdftotext, pdftoppm: the export tests read PDFs back).
#  - haproxy: test/deploy checks deploy/haproxy/haproxy.cfg with `haproxy -c` (and the cluster
#    tests run it in front of the gateways).
set -euo pipefail

say() { echo "test setup: $*" >&2; }
problems=()
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done
  problems+=("port $1 did not open within 60 s")
  return 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }

# Debian packages: apt-get update only when the first install fails (the lists may be stale).
apt_install() {
  local pkg=$1
  if ! is_root; then
    problems+=("$pkg is missing: install it as root (sudo apt-get install -y $pkg)")
    return 0
  fi
  if ! command -v apt-get >/dev/null; then
    problems+=("$pkg is missing and there is no apt-get: install it with this system's package manager")
    return 0
  fi
  say "installing $pkg"
  local log
  log=$(mktemp)
  apt_get install "$pkg" >"$log" 2>&1 || { apt_get update >"$log" 2>&1 && apt_get install "$pkg" >"$log" 2>&1; } ||
    problems+=("apt-get could not install $pkg: $(tail -3 "$log")")
  rm -f "$log"
}
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@"; }

if [ -z "${TEST_PG_URL:-}" ] && ! port_open 5432; then
  if ! is_root || ! command -v pg_ctlcluster >/dev/null || ! [ -d /etc/postgresql ]; then
    problems+=("nothing listens on 127.0.0.1:5432: start PostgreSQL (as root: pg_ctlcluster <version> main start), or set TEST_PG_URL")
  else
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    wait_port 5432 || true
  fi
fi

if ! [ -x "${NATS_SERVER_BIN:-/usr/sbin/nats-server}" ]; then
  problems+=("${NATS_SERVER_BIN:-/usr/sbin/nats-server} is missing: the JetStream tests start their own servers from it (Debian: apt-get install nats-server)")
elif ! port_open 4222 && is_root && command -v start-stop-daemon >/dev/null; then
  say "starting NATS"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_port 4222 || true
fi

[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || apt_install chromium
[ -x /usr/bin/mosquitto_pub ] || apt_install mosquitto-clients
# The export tests read PDFs back with pdftotext and render a page with pdftoppm.
[ -x /usr/bin/pdftotext ] && [ -x /usr/bin/pdftoppm ] || apt_install poppler-utils
[ -x /usr/sbin/haproxy ] || apt_install haproxy

if [ ${#problems[@]} -gt 0 ]; then
  for p in "${problems[@]}"; do say "$p"; done
  exit 1
fi

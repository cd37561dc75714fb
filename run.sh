#!/usr/bin/env bash
# Runs the whole platform: installs what is missing, builds (Release), starts the Aspire AppHost and prints
# where to reach it. Ctrl-C or SIGTERM stops everything it started.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/prerequisites.sh
ensure_prerequisites

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build Personalization.sln -c Release -nologo -clp:NoSummary -v:q

gateway_port="${Gateway__Port:-8080}"
storefront_port="${Storefront__Port:-8081}"
log=$(mktemp -t personalization-apphost.XXXXXX)
dotnet run --project Personalization.AppHost --no-build -c Release --launch-profile http > >(tee "$log") 2>&1 &
apphost=$!

stop() {
  trap - INT TERM
  echo "stopping the platform ..."
  kill -TERM "$apphost" 2>/dev/null || true
  wait "$apphost" 2>/dev/null || true
  rm -f "$log"
  exit 0
}
trap stop INT TERM

# Announce the addresses once the dashboard is up and the gateway answers its health probe; give up with a
# diagnosis after PERSONALIZATION_READY_TIMEOUT seconds (default 180) instead of waiting in silence.
ready_timeout="${PERSONALIZATION_READY_TIMEOUT:-180}"
ready=0
started=$SECONDS
while [ $((SECONDS - started)) -lt "$ready_timeout" ]; do
  kill -0 "$apphost" 2>/dev/null || { wait "$apphost"; exit $?; }
  if curl -fsS --max-time 1 "http://localhost:$gateway_port/health" >/dev/null 2>&1; then
    ready=1
    login=$(grep -m1 -oE 'http://localhost:18888/login\?t=[0-9a-f]+' "$log" || true)
    cat <<BANNER

  Personalization platform is running.
    gateway    http://localhost:$gateway_port
    storefront http://localhost:$storefront_port   (the demo shop: browse, and watch its banner change live)
    dashboard  ${login:-http://localhost:18888}
  Development keys (development only): write dev-write-key (HTTP Basic user), read dev-read-key, admin dev-admin-key (Bearer)
  Ctrl-C stops everything.

BANNER
    break
  fi
  sleep 1
done
if [ "$ready" = 0 ]; then
  login=$(grep -m1 -oE 'http://localhost:18888/login\?t=[0-9a-f]+' "$log" || true)
  {
    echo
    echo "error: the gateway did not answer http://localhost:$gateway_port/health within $ready_timeout s."
    echo "What the AppHost reported (errors, and what it still waits for):"
    grep -E -A12 '^(fail|crit): |Still not running' "$log" | tail -60 || true
    echo "The dashboard (${login:-http://localhost:18888}) shows every resource's state and logs while it runs."
    echo "Stopping. Retry with PERSONALIZATION_READY_TIMEOUT=<seconds> on a slow machine."
  } >&2
  kill -TERM "$apphost" 2>/dev/null || true
  wait "$apphost" 2>/dev/null || true
  rm -f "$log"
  exit 1
fi

wait "$apphost"

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

# Announce the addresses once the dashboard is up and the gateway answers its health probe.
for _ in $(seq 1 180); do
  kill -0 "$apphost" 2>/dev/null || { wait "$apphost"; exit $?; }
  if curl -fsS --max-time 2 "http://localhost:$gateway_port/health" >/dev/null 2>&1; then
    login=$(grep -m1 -oE 'http://localhost:18888/login\?t=[0-9a-f]+' "$log" || true)
    cat <<BANNER

  Personalization platform is running.
    gateway    http://localhost:$gateway_port
    dashboard  ${login:-http://localhost:18888}
  Development keys (development only): write dev-write-key (HTTP Basic user), read dev-read-key, admin dev-admin-key (Bearer)
  Ctrl-C stops everything.

BANNER
    break
  fi
  sleep 1
done

wait "$apphost"

#!/usr/bin/env bash
# Imports a CSV or NDJSON file (optionally .gz) through the gateway and follows the import until it ends.
#
#   scripts/import.sh FILE [--type TYPE] [--key KEY] [--gateway URL]
#
# FILE: *.csv, *.ndjson or *.jsonl, each optionally gzipped (*.gz); an uncompressed file is gzipped on the way (streamed).
# --type: the event type of rows that name none (track, identify, ...). --key: a write or admin key
# (PERSONALIZATION_KEY, default dev-write-key). --gateway: PERSONALIZATION_GATEWAY, default http://localhost:8080.
# Prints progress every 2 s; on rejected rows writes FILE.rejections.csv (line,field,reason). Exit 0 when the import
# completed (rows may have been rejected), 1 when it failed or was refused.
set -euo pipefail

file="" type="" key="${PERSONALIZATION_KEY:-dev-write-key}" gateway="${PERSONALIZATION_GATEWAY:-http://localhost:8080}"
while [ $# -gt 0 ]; do
  case "$1" in
    --type) type="$2"; shift 2 ;;
    --key) key="$2"; shift 2 ;;
    --gateway) gateway="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) file="$1"; shift ;;
  esac
done
[ -n "$file" ] && [ -f "$file" ] || { echo "usage: scripts/import.sh FILE [--type TYPE] [--key KEY] [--gateway URL]" >&2; exit 1; }
command -v curl > /dev/null || { echo "curl is needed: sudo apt-get install -y curl" >&2; exit 1; }

name="${file%.gz}"
case "$name" in
  *.csv) content_type="text/csv" ;;
  *.ndjson|*.jsonl) content_type="application/x-ndjson" ;;
  *) echo "$file: the name must end in .csv, .ndjson or .jsonl (optionally .gz)" >&2; exit 1 ;;
esac
query=""; [ -n "$type" ] && query="?type=$type"

field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" <<< "$2"; }

headers=$(mktemp); trap 'rm -f "$headers"' EXIT
if [ "$file" != "$name" ]; then
  answer=$(curl -sS -D "$headers" -H "Authorization: Bearer $key" -H "Content-Type: $content_type" -H "Content-Encoding: gzip" \
    --data-binary "@$file" "$gateway/v1/imports$query")
else
  answer=$(gzip -c "$file" | curl -sS -D "$headers" -H "Authorization: Bearer $key" -H "Content-Type: $content_type" \
    -H "Content-Encoding: gzip" --data-binary @- "$gateway/v1/imports$query")
fi
location=$(sed -n 's/^[Ll]ocation: *\([^[:space:]]*\).*/\1/p' "$headers")
if [ -z "$location" ]; then
  echo "refused: $answer" >&2
  exit 1
fi
echo "import $(field id "$answer") started"
while true; do
  job=$(curl -sS -H "Authorization: Bearer $key" "$gateway$location")
  status=$(field status "$job")
  printf '%s: %s rows read, %s accepted, %s duplicate, %s rejected\n' "$status" "$(field rowsRead "$job")" \
    "$(field rowsAccepted "$job")" "$(field rowsDuplicate "$job")" "$(field rowsRejected "$job")"
  case "$status" in
    completed|failed) break ;;
  esac
  sleep 2
done
if [ "$(field rowsRejected "$job")" != "0" ]; then
  curl -sS -H "Authorization: Bearer $key" "$gateway$location/rejections" > "$name.rejections.csv"
  echo "rejected rows: $name.rejections.csv"
fi
[ "$status" = completed ] || { echo "failed: $(field error "$job")" >&2; exit 1; }

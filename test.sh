#!/usr/bin/env bash
# Builds everything with warnings as errors and runs every test project, one after another.
# The last line is "N passed, N failed" (", N skipped" only when some were); non-zero exit on any failure.
set -uo pipefail
cd "$(dirname "$0")"
. scripts/prerequisites.sh
ensure_prerequisites browser || exit 1

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build Personalization.sln -c Debug -warnaserror -nologo -clp:NoSummary -v:q || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0 failed=0 skipped=0 status=0
results=".test-results"
rm -rf "$results" && mkdir -p "$results"
for project in tests/*/*.csproj; do
  name=$(basename "$project" .csproj)
  echo "== $name"
  dotnet test "$project" --no-build -c Debug --nologo --logger "console;verbosity=normal" 2>&1 | tee "$results/$name.log" \
    | grep -E '^\s+(Passed|Failed|Skipped) |^Total tests|^ +(Passed|Failed|Skipped):|Error Message' || true
  code=${PIPESTATUS[0]}
  # The console logger closes with "Total tests: N" then "Passed: N", "Failed: N", "Skipped: N" lines.
  if ! grep -qE '^Total tests: [0-9]+' "$results/$name.log"; then
    echo "   $name produced no test summary (exit $code): see $results/$name.log"
    failed=$((failed + 1)); status=1; continue
  fi
  count() { grep -E "^ +$1: +[0-9]+\s*$" "$results/$name.log" | tail -1 | grep -oE '[0-9]+' || echo 0; }
  passed=$((passed + $(count Passed))); failed=$((failed + $(count Failed))); skipped=$((skipped + $(count Skipped)))
  [ "$code" -ne 0 ] && status=1
done

[ "$failed" -gt 0 ] && status=1
line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
exit $status

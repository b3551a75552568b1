#!/usr/bin/env bash
# Schemathesis over the whole OpenAPI document against a served instance on loopback (the app
# over the test grid, tests/served.py): every check, every phase (stateful included), a fixed
# seed, a planner key. Fails when any check other than positive_data_acceptance fails (server
# errors, schema violations, status codes, content types, headers, auth, ...) and when fewer
# than GEOZONE_FUZZ_MIN_CASES (10,000) cases ran. positive_data_acceptance failures are
# counted and listed, not fatal: the schema cannot say every domain rule (a bbox whose min
# exceeds its max, a category code the store does not know, a date before 1945-09-02), so
# schema-valid requests that break one are rightly refused with 400/422.
#   bash scripts/fuzz.sh [MAX_EXAMPLES] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
max_examples=${1:-${GEOZONE_FUZZ_EXAMPLES:-320}}
seed=${2:-14}
min_cases=${GEOZONE_FUZZ_MIN_CASES:-10000}
work=$(mktemp -d -t geozone-fuzz-XXXXXX)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/python -m tests.served --port "$port" --store "sqlite:///$work/store.sqlite" \
    --keys "$work/keys.json" --max-body-bytes 200000 >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; [ -n "${GEOZONE_FUZZ_KEEP:-}" ] || rm -rf "$work"' EXIT
for _ in $(seq 1 120); do
    [ -s "$work/keys.json" ] && .venv/bin/python -c 'import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=2)' "$port" 2>/dev/null && break
    sleep 0.5
done
key=$(.venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["planner"])' "$work/keys.json")
started=$(date +%s)
status=0
# Run from the temporary folder: schemathesis keeps a crash cache in its working directory,
# and a cache left from an earlier run would change what this one sends.
root=$(pwd)
(cd "$work" && "$root/.venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
    --checks all --phases examples,coverage,fuzzing,stateful \
    --max-examples "$max_examples" --seed "$seed" --generation-database none \
    --header "X-API-Key: $key" --workers 1 --request-timeout 60 --no-color \
    --report ndjson --report-ndjson-path "$work/events.ndjson") >"$work/out.txt" 2>&1 || status=$?
verdict=$(.venv/bin/python - "$work/events.ndjson" <<'PY'
import collections, json, sys
cases, failed, errors = 0, collections.Counter(), []
for line in open(sys.argv[1], encoding="utf-8"):
    event = json.loads(line)
    if "NonFatalError" in event:
        errors.append(event["NonFatalError"]["value"].get("message", "")[:200])
    body = event.get("ScenarioFinished")
    if not body:
        continue
    recorder = body.get("recorder", {})
    cases += len(recorder.get("cases", {}))
    for checks in recorder.get("checks", {}).values():
        for check in checks:
            if check.get("status") == "failure":
                failed[check["name"]] += 1
fatal = {name: n for name, n in failed.items() if name != "positive_data_acceptance"}
compact = {"separators": (",", ":"), "ensure_ascii": True}
print(cases, sum(fatal.values()), json.dumps(dict(failed), **compact), json.dumps(errors[:3], **compact), sep="\t")
PY
)
IFS=$'\t' read -r cases fatal failed errors <<<"$verdict"
echo "schemathesis: $cases cases in $(( $(date +%s) - started )) s (seed $seed, max examples $max_examples)"
echo "failed checks: $failed (positive_data_acceptance is reported, not fatal); internal errors: $errors"
if [ "$status" -ne 0 ] && [ "$fatal" -eq 0 ]; then
    tail -n 25 "$work/out.txt"
else
    cat "$work/out.txt"
fi
if [ "$fatal" -ne 0 ]; then
    echo "schemathesis: $fatal failing checks; server log:"; tail -n 30 "$work/server.log"
    exit 1
fi
if [ "$cases" -lt "$min_cases" ]; then
    echo "schemathesis: fewer than $min_cases cases ran"; exit 1
fi
echo "schemathesis: 0 server errors, 0 schema violations"

#!/bin/sh
# Run every benchmark at one scale (default small), one JSON file each in bench/results/.
# Usage: bench/run_all.sh [tiny|small|large]      (from anywhere; uses the repo's .venv)
set -u
scale="${1:-small}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
py="${PYTHON:-$root/.venv/bin/python}"
out="$here/results"
mkdir -p "$out"
status=0
for name in train serve ingest import_papers memory; do
    echo "== $name ($scale)" >&2
    if "$py" "$here/$name.py" --scale "$scale" > "$out/$name-$scale.json.tmp" 2> "$out/$name-$scale.log"; then
        mv "$out/$name-$scale.json.tmp" "$out/$name-$scale.json"
        cat "$out/$name-$scale.json"
    else
        echo "$name failed; see $out/$name-$scale.log" >&2
        status=1
    fi
done
exit $status

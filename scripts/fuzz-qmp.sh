#!/bin/sh
# The QMP libFuzzer target alone (kept for existing callers); see scripts/fuzz.sh:
#   scripts/fuzz-qmp.sh [RUNS] [extra libFuzzer args...]
# RUNS defaults to 20000. Exit status is non-zero on a crash, leak or
# sanitizer report.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
runs=${1:-20000}
[ $# -gt 0 ] && shift
exec "$here/fuzz.sh" "$runs" qmp -- "$@"

#!/bin/sh
# Builds the QMP libFuzzer target (splitter + dispatch) with clang and runs it
# for a fixed number of iterations so CI can use it:
#   scripts/fuzz-qmp.sh [RUNS] [extra libFuzzer args...]
# RUNS defaults to 20000 (about a minute). The seed corpus (tests/fuzz/corpus-qmp) is copied
# to a scratch directory so new inputs do not pollute the tree. Exit status is
# libFuzzer's (non-zero on a crash, leak or sanitizer report).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-20000}
[ $# -gt 0 ] && shift
out=${FUZZ_OUT:-"$here/build-fuzz"}
cc=${CLANG:-clang}
mkdir -p "$out"
# shellcheck disable=SC2046
"$cc" -g -O1 -std=gnu11 -D_GNU_SOURCE -DSTRATUS_VERSION='"fuzz"' \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$here/src" \
    "$here/tests/fuzz/fuzz-qmp.c" \
    "$here/src/qmp/json-splitter.c" "$here/src/qmp/qmp-json.c" \
    "$here/src/qmp/qmp-dispatch.c" "$here/src/qmp/qmp-events.c" \
    $(pkg-config --cflags --libs glib-2.0 json-glib-1.0) -lm \
    -o "$out/fuzz-qmp"
corpus="$out/corpus-qmp"
mkdir -p "$corpus"
cp "$here"/tests/fuzz/corpus-qmp/* "$corpus"/
exec "$out/fuzz-qmp" -runs="$runs" -max_len=4096 -timeout=10 "$@" "$corpus"

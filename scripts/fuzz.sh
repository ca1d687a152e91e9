#!/bin/sh
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined)
# and runs each for a fixed number of inputs, so CI can use it:
#   scripts/fuzz.sh [RUNS] [TARGET...] [-- extra libFuzzer args...]
# TARGETs (default: all):
#   qmp      QMP splitter + dispatch + response formatting (tests/fuzz/fuzz-qmp.c)
#   options  config_parse over an argv built from the input  (fuzz-options.c)
#   loader   x86 direct-boot loader: kernel/bzImage header/initrd (fuzz-loader.c)
#   qtest    qtest line protocol over a fake machine           (fuzz-qtest.c)
# RUNS defaults to 20000 per target (all four: about a minute on 2 cores).
# Seed corpora (tests/fuzz/corpus-TARGET) are copied to scratch directories so
# new inputs never pollute the tree; crash/leak reproducers are written to
# $FUZZ_OUT/artifacts-TARGET/. Exit status is non-zero if any target fails to
# build or libFuzzer reports a crash, leak, timeout or sanitizer error.
# Several targets run concurrently (each logs to $FUZZ_OUT/fuzz-TARGET.log);
# a single target prints libFuzzer's output directly.
# Environment: FUZZ_OUT (default build-fuzz), CLANG (default clang), FUZZ_SEED
# (libFuzzer's -seed; unset means a new random seed each run, which explores
# more; scripts/run-tests.sh fixes it so a test run is reproducible).
# Reproduce a finding: $FUZZ_OUT/fuzz-TARGET $FUZZ_OUT/artifacts-TARGET/crash-...
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
runs=20000
case "${1:-}" in
    ''|*[!0-9]*) ;;
    *) runs=$1; shift ;;
esac
targets=
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; break ;;
        qmp|options|loader|qtest) targets="$targets $1"; shift ;;
        *) echo "fuzz.sh: unknown target '$1' (qmp, options, loader, qtest)" >&2; exit 2 ;;
    esac
done
[ -n "$targets" ] || targets="qmp options loader qtest"
out=${FUZZ_OUT:-"$here/build-fuzz"}
cc=${CLANG:-clang}
mkdir -p "$out"
s="$here/src"

sources() {   # the sources each target links, besides tests/fuzz/fuzz-TARGET.c
    case "$1" in
    qmp)     echo "$s/qmp/json-splitter.c $s/qmp/json-parser.c $s/qmp/qmp-json.c" \
                  "$s/qmp/qmp-dispatch.c" \
                  "$s/qmp/qmp-schema.c $s/qmp/qmp-session.c $s/qmp/qmp-events.c $s/util/strutil.c" ;;
    # every file of src/options: a new option file must not break the target
    options) echo "$s"/options/*.c "$s/util/strutil.c" ;;
    loader)  echo "$s/hw/x86/loader.c $s/hw/x86/bootparam.c $s/hw/x86/mptable.c" \
                  "$s/memory.c $s/util/strutil.c" ;;
    qtest)   echo "$s/accel/qtest.c $s/accel/qtest-cmds.c $s/accel/x86-vm-state.c" \
                  "$s/util/clock.c $s/util/log.c $s/memory.c $s/util/strutil.c" ;;
    esac
}
max_len() {
    case "$1" in
    loader) echo 16384 ;;
    options) echo 1024 ;;
    *) echo 4096 ;;
    esac
}

build() {   # build TARGET
    # shellcheck disable=SC2046
    "$cc" -g -O1 -std=gnu11 -D_GNU_SOURCE -DSTRATUS_VERSION='"fuzz"' \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -Wno-unused-parameter \
        -I"$s" "$here/tests/fuzz/fuzz-$1.c" $(sources "$1") \
        $(pkg-config --cflags --libs glib-2.0 json-glib-1.0) -lm \
        -o "$out/fuzz-$1"
}

run() {   # run TARGET [extra libFuzzer args...]
    t=$1; shift
    corpus="$out/corpus-$t"
    mkdir -p "$corpus" "$out/artifacts-$t"
    if [ -d "$here/tests/fuzz/corpus-$t" ]; then
        cp "$here/tests/fuzz/corpus-$t"/* "$corpus"/
    fi
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$out/fuzz-$t" -runs="$runs" -max_len="$(max_len "$t")" -timeout=30 \
        -rss_limit_mb=2560 -print_final_stats=1 ${FUZZ_SEED:+-seed="$FUZZ_SEED"} \
        -artifact_prefix="$out/artifacts-$t/" "$@" "$corpus"
}

failed=
built=
for t in $targets; do
    echo "==== fuzz-$t: build"
    if build "$t"; then
        built="$built $t"
    else
        echo "==== fuzz-$t: BUILD FAILED"
        failed="$failed $t"
    fi
done
# shellcheck disable=SC2086
ntargets=$(echo $targets | wc -w)
if [ "$ntargets" -eq 1 ] && [ -n "$built" ]; then
    # One target: libFuzzer's output straight to the terminal.
    targets=${targets# }
    echo "==== fuzz-$targets: $runs runs"
    if run $targets "$@"; then
        echo "==== fuzz-$targets: OK"
    else
        echo "==== fuzz-$targets: FAILED (reproducers in $out/artifacts-$targets/)"
        failed="$failed $targets"
    fi
else
    # Several: run them concurrently, each logging to $FUZZ_OUT/fuzz-TARGET.log.
    for t in $built; do
        echo "==== fuzz-$t: $runs runs (log: $out/fuzz-$t.log)"
        run "$t" "$@" > "$out/fuzz-$t.log" 2>&1 &
        eval "pid_$t=\$!"
    done
    pid=
    for t in $built; do
        eval "pid=\$pid_$t"
        if wait "$pid"; then
            echo "==== fuzz-$t: OK, $(grep -E '^Done' "$out/fuzz-$t.log" || echo '?')"
        else
            tail -n 80 "$out/fuzz-$t.log"
            echo "==== fuzz-$t: FAILED (log $out/fuzz-$t.log, reproducers in $out/artifacts-$t/)"
            failed="$failed $t"
        fi
    done
    # CI logs are often read from the end: repeat each finding's summary last.
    for t in $failed; do
        if [ -f "$out/fuzz-$t.log" ]; then
            echo "==== fuzz-$t finding:"
            grep -E 'ERROR: |SUMMARY: |^Base64: |runtime error' "$out/fuzz-$t.log" | head -n 6
        fi
    done
fi
if [ -n "$failed" ]; then
    echo "fuzz.sh: FAILED:$failed"
    exit 1
fi
echo "fuzz.sh: all targets passed ($runs runs each)"

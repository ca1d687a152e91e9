#!/usr/bin/python3
"""Report of a scripts/prof/sigprof.c profile: functions by self samples (the
interrupted PC) and by inclusive samples (anywhere on the frame-pointer
chain), per thread or all threads. Addresses outside every loaded object
(generated code, e.g. emu's JIT) are counted as "[generated]". Names come
from `nm` of each object (static functions included unless stripped).

  scripts/prof/report.py /tmp/prof.txt [--top 40] [--tid N] [--callers FUNC]
"""

import argparse
import bisect
import collections
import subprocess


def load_syms(obj, cache):
    if obj in cache:
        return cache[obj]
    addrs, names = [], []
    try:
        out = subprocess.run(["nm", "-n", "--defined-only", obj], capture_output=True,
                             text=True).stdout
        if not out.strip():
            out = subprocess.run(["nm", "-n", "-D", "--defined-only", obj],
                                 capture_output=True, text=True).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            addrs.append(int(parts[0], 16))
            names.append(parts[2])
    cache[obj] = (addrs, names)
    return cache[obj]


def name_of(frame, cache, memo):
    if frame in memo:
        return memo[frame]
    obj, _, off = frame.rpartition("+")
    if obj == "?":
        memo[frame] = "[generated]"
        return memo[frame]
    addrs, names = load_syms(obj, cache)
    i = bisect.bisect_right(addrs, int(off, 16)) - 1
    memo[frame] = names[i] if i >= 0 else "%s+%s" % (obj.rsplit("/", 1)[-1], off)
    return memo[frame]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--tid", type=int, help="only this thread")
    ap.add_argument("--callers", help="also list the callers of this function")
    args = ap.parse_args()
    cache, memo = {}, {}
    self_c, incl_c, callers, threads = (collections.Counter() for _ in range(4))
    total = 0
    with open(args.file) as f:
        for line in f:
            if line.startswith("#"):
                continue
            parts = line.split()
            tid, frames = int(parts[0]), [name_of(x, cache, memo) for x in parts[1:]]
            threads[tid] += 1
            if args.tid is not None and tid != args.tid or not frames:
                continue
            total += 1
            self_c[frames[0]] += 1
            for fn in set(frames):
                incl_c[fn] += 1
            if args.callers:
                for k, fn in enumerate(frames[:-1]):
                    if fn == args.callers:
                        callers[frames[k + 1]] += 1
                        break
    print("threads (samples):", ", ".join("%d:%d" % t for t in threads.most_common()))
    print("%d samples\n\n  self%%  incl%%  function" % total)
    for fn, n in self_c.most_common(args.top):
        print("%6.1f %6.1f  %s" % (100.0 * n / total, 100.0 * incl_c[fn] / total, fn))
    print("\n  incl%%  function (inclusive)")
    for fn, n in incl_c.most_common(args.top):
        print("%6.1f  %s" % (100.0 * n / total, fn))
    if args.callers:
        print("\ncallers of %s" % args.callers)
        for fn, n in callers.most_common(args.top):
            print("%6.1f  %s" % (100.0 * n / total, fn))


if __name__ == "__main__":
    main()

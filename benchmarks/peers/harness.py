"""Shared by the peers and compare_* scripts: a Python callable and one chord Google Benchmark case, each
timed as its mean wall time."""
import json
import re
import subprocess
import time


def timed(fn, min_time):
    """Mean seconds per call of `fn` over at least `min_time` s, after one untimed warm-up call; and the call count."""
    fn()
    runs, start = 0, time.perf_counter()
    while True:
        fn()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / runs, runs


def chord_time(binary, case, min_time):
    """Mean real time in seconds of the chord benchmark named exactly `case`."""
    exact = "^" + re.escape(case) + "$"
    out = subprocess.run([binary, f"--benchmark_filter={exact}", f"--benchmark_min_time={min_time}",
                          "--benchmark_min_warmup_time=0.1", "--benchmark_format=json"], check=True, capture_output=True,
                         text=True).stdout
    runs = json.loads(out)["benchmarks"]
    if not runs:
        raise SystemExit(f"chord benchmark {case} not found")
    return runs[0]["real_time"] / 1e3  # ms → s

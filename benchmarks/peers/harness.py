"""Shared by the compare_* scripts: one chord Google Benchmark case, timed as its mean wall time."""
import json
import re
import subprocess


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

"""Runs chord's Bert-VITS2 benchmarks (benchmarks/bench_bert_vits2.cpp) and fishaudio/Bert-VITS2's own classes
(benchmarks/peers/bert_vits2_peer.py) side by side, interleaved, and prints a markdown table of the best
time per case over several rounds; ratio = reference / chord (> 1: chord is faster). Inference rows also give
the real-time factor (seconds of audio per second of compute).

    ~/.cache/chord/reference-torch-2.11.0/bin/python benchmarks/peers/compare_bert_vits2.py \
        --binary build/benchmarks/chord_bench_systems --rounds 2 [--checkout /tmp/bv2]
"""
import argparse
import json
import re
import subprocess

import torch

import bert_vits2_peer


def chord_time(binary, case, min_time):
    """Mean real time in seconds of the chord case named exactly `case`. Like harness.chord_time, but without
    Google Benchmark's warm-up phase: it would call the case anew (a second model build and warm-up step of
    several seconds each); the case does its own untimed warm-up iteration."""
    out = subprocess.run([binary, f"--benchmark_filter=^{re.escape(case)}$", f"--benchmark_min_time={min_time}",
                          "--benchmark_min_warmup_time=0", "--benchmark_format=json"], check=True, capture_output=True,
                         text=True).stdout
    runs = json.loads(out)["benchmarks"]
    if not runs:
        raise SystemExit(f"chord benchmark {case} not found")
    if runs[0].get("error_occurred"):
        raise SystemExit(f"chord benchmark {case}: {runs[0].get('error_message')}")
    return runs[0]["real_time"] / 1e3  # ms → s


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--checkout", default="/tmp/bv2", help="a fishaudio/Bert-VITS2 checkout")
    parser.add_argument("--filter", default=".*")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--min-time", type=float, default=1.0)
    args = parser.parse_args()
    bert_vits2_peer.import_reference(args.checkout)
    print(f"machine: {cpu_model()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.rounds} interleaved rounds, best of each\n")
    print("| case | chord | Bert-VITS2 | ratio |")
    print("|---|---|---|---|")
    for case, run in bert_vits2_peer.CASES.items():
        if not re.search(args.filter, case):
            continue
        best = [float("inf")] * 2
        for _ in range(args.rounds):
            best[0] = min(best[0], chord_time(args.binary, case, args.min_time))
            best[1] = min(best[1], run(args.min_time)[0])
        c, r = best
        row = f"| {case.replace('BM_BertVits2_', '')} | {c * 1e3:.1f} ms | {r * 1e3:.1f} ms | {r / c:.2f}x |"
        audio = bert_vits2_peer.AUDIO_SECONDS.get(case)
        if audio:
            row = (f"| {case.replace('BM_BertVits2_', '')} ({audio:.2f} s of audio) | {c * 1e3:.1f} ms (RTF {audio / c:.1f}) "
                   f"| {r * 1e3:.1f} ms (RTF {audio / r:.1f}) | {r / c:.2f}x |")
        print(row, flush=True)


if __name__ == "__main__":
    main()

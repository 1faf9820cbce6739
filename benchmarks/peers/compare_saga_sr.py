"""Runs chord's SAGA-SR benchmarks and pip stable-audio-tools side by side, interleaved, and prints a
markdown table of the best time per case over several rounds, with the reference as shipped (blocks
under activation checkpointing) and without checkpointing; ratio = reference / chord.

    ~/.cache/chord/reference-torch-2.11.0/bin/python benchmarks/peers/compare_saga_sr.py \
        --binary build/benchmarks/chord_bench_systems --rounds 2
"""
import argparse
import platform
import re

import torch

import saga_sr_peer
from harness import chord_time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--filter", default=".*")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--min-time", type=float, default=1.0)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.rounds} interleaved rounds, best of each\n")
    print("| case | chord | stable-audio-tools as shipped | ratio | without checkpointing | ratio |")
    print("|---|---|---|---|---|---|")
    for case, run in saga_sr_peer.CASES.items():
        if not re.search(args.filter, case):
            continue
        best = [float("inf")] * 3
        for _ in range(args.rounds):
            best[0] = min(best[0], chord_time(args.binary, case, args.min_time))
            best[1] = min(best[1], run(args.min_time, True)[0])
            best[2] = min(best[2], run(args.min_time, False)[0])
        c, shipped, plain = best
        print(f"| {case.replace('BM_SagaSR_', '')} | {c * 1e3:.1f} ms | {shipped * 1e3:.1f} ms | {shipped / c:.2f}x "
              f"| {plain * 1e3:.1f} ms | {plain / c:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

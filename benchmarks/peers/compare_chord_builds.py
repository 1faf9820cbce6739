"""Times the same chord benchmark cases in two builds of `chord_bench_systems` (e.g. before and after a
change), interleaved, best of several rounds; prints a markdown table with after / before.

    python benchmarks/peers/compare_chord_builds.py --before /tmp/bench_before --after build/benchmarks/chord_bench_systems \
        --cases BM_F5TTS_TrainStep/tiny/batch:4 BM_SagaSR_Sample/tiny/batch:1
"""
import argparse

from harness import chord_time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--cases", nargs="+", required=True, help="exact Google Benchmark case names")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=1.0)
    args = parser.parse_args()
    print("| case | before | after | after / before |\n|---|---|---|---|")
    for case in args.cases:
        before = after = float("inf")
        for _ in range(args.rounds):
            before = min(before, chord_time(args.before, case, args.min_time))
            after = min(after, chord_time(args.after, case, args.min_time))
        print(f"| {case} | {before * 1e3:.1f} ms | {after * 1e3:.1f} ms | {after / before:.3f} |", flush=True)


if __name__ == "__main__":
    main()

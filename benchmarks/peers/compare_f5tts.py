"""Runs chord's F5-TTS benchmarks and the Python reference side by side, interleaved, and prints a
markdown table of the best time per case over several rounds and the ratio (reference / chord).

    ~/.cache/chord/reference-torch-2.11.0/bin/python benchmarks/peers/compare_f5tts.py \
        --binary build/benchmarks/chord_bench_systems --filter tiny --rounds 3

Interleaving (chord, reference, chord, reference, ...) and taking each side's best round keeps a noisy
shared machine from favouring either side.
"""
import argparse
import os
import platform
import re

import torch

import f5tts_peer
from harness import chord_time


def python_time(case, min_time):
    kind, preset, *args = case.split("/")
    params = dict(a.split(":") for a in args)
    if kind == "BM_F5TTS_AdamWStep":
        return f5tts_peer.adamw_step(preset.removesuffix("_fused"), preset.endswith("_fused"), min_time)[0]
    if kind == "BM_F5TTS_TrainStep":  # "<preset>_fused": both sides with the fused AdamW kernel
        fused = preset.endswith("_fused")
        return f5tts_peer.train_step(preset.removesuffix("_fused"), int(params["batch"]), min_time, fused)[0]
    return f5tts_peer.sample(preset, int(params["batch"]), int(params["cfg"]), min_time)[0]


CASES = [
    "BM_F5TTS_TrainStep/tiny/batch:4", "BM_F5TTS_TrainStep/tiny_fused/batch:4",
    "BM_F5TTS_Sample/tiny/batch:1/cfg:0", "BM_F5TTS_Sample/tiny/batch:1/cfg:1",
    "BM_F5TTS_Sample/tiny/batch:4/cfg:0", "BM_F5TTS_Sample/tiny/batch:4/cfg:1",
    "BM_F5TTS_TrainStep/v1_small/batch:4", "BM_F5TTS_TrainStep/v1_small_fused/batch:4",
    "BM_F5TTS_Sample/v1_small/batch:1/cfg:0", "BM_F5TTS_Sample/v1_small/batch:1/cfg:1",
    "BM_F5TTS_Sample/v1_small/batch:4/cfg:0", "BM_F5TTS_Sample/v1_small/batch:4/cfg:1",
    "BM_F5TTS_TrainStep/v1_base/batch:1", "BM_F5TTS_TrainStep/v1_base_fused/batch:1",
    "BM_F5TTS_Sample/v1_base/batch:1/cfg:1",
    "BM_F5TTS_AdamWStep/v1_small", "BM_F5TTS_AdamWStep/v1_small_fused",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--filter", default=".*")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=1.0)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N, on both sides")
    parser.add_argument("--autocast", choices=("fp32", "bf16"), default="fp32", help="bf16 autocast on both sides")
    args = parser.parse_args()
    f5tts_peer.configure(args.device, args.autocast)
    os.environ["CHORD_BENCH_DEVICE"], os.environ["CHORD_BENCH_AUTOCAST"] = args.device, args.autocast
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or platform.machine()
    print(f"machine: {where}, {args.autocast}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.rounds} interleaved rounds, best of each\n")
    print("| case | chord | F5-TTS (Python) | reference / chord |")
    print("|---|---|---|---|")
    for case in CASES:
        if not re.search(args.filter, case):
            continue
        best_chord, best_python = float("inf"), float("inf")
        for _ in range(args.rounds):
            best_chord = min(best_chord, chord_time(args.binary, case, args.min_time))
            best_python = min(best_python, python_time(case, args.min_time))
        name = case.replace("BM_F5TTS_", "")
        print(f"| {name} | {best_chord * 1e3:.1f} ms | {best_python * 1e3:.1f} ms | {best_python / best_chord:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

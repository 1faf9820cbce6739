"""Runs chord's data-parallel F5-TTS benchmark (build/benchmarks/chord-bench-ddp) and the PyTorch DDP peer
(ddp_f5tts_peer.py) under torchrun, one run at a time, and prints a markdown table.

    ~/.cache/chord/reference-torch-2.11.0/bin/python benchmarks/peers/compare_ddp.py \
        --presets tiny v1_small --procs 1 2 --batch 2 --steps 10 --warmup 2

Every run gets OMP_NUM_THREADS=1 and its own --master-port. Each (preset, P) pair runs chord then Python, and
with --rounds > 1 the pairs repeat interleaved and each side keeps its fastest round, so a noisy shared machine
favours neither side. A missing chord binary is reported and its columns show n/a.

Columns: ms per step (rank 0's mean), DDP / chord (>1: chord faster), items/s over all processes, scaling
efficiency (items/s at P over P x items/s at P=1 of the same preset and side) and exposed communication
(backward_ms - backward_ms_no_sync: the gradient exchange not hidden behind backward).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "ddp_f5tts_peer.py")


def torchrun(procs, port, program, args, json_path, python):
    """Runs `program` (a binary, or the peer script when `python` is set) under torchrun; returns its JSON or None."""
    launch = [python or sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc-per-node={procs}",
              "--master-addr=127.0.0.1", f"--master-port={port}"]
    command = launch + ([program] if python else ["--no-python", program]) + args + ["--json", json_path]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if os.path.exists(json_path):
        os.remove(json_path)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not os.path.exists(json_path):
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        print(f"run failed (exit {done.returncode}): {' '.join(command)}\n{tail}\n", file=sys.stderr, flush=True)
        return None
    with open(json_path) as f:
        return json.load(f)


def best(old, new):
    if new is None:
        return old
    if old is None or new["ms_per_step"] < old["ms_per_step"]:
        return new
    return old


def fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="build/benchmarks/chord-bench-ddp")
    parser.add_argument("--presets", nargs="+", default=["tiny", "v1_small"], choices=["tiny", "v1_small", "v1_base"])
    parser.add_argument("--procs", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batch", type=int, default=2, help="items per process")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--fused-adamw", action="store_true", help="both sides step AdamW through ATen's fused kernel")
    parser.add_argument("--base-port", type=int, default=29531)
    parser.add_argument("--python", default=sys.executable, help="interpreter with torch and f5-tts for the peer")
    parser.add_argument("--json-dir", default=None, help="keep the runs' JSON here (default: a temporary folder)")
    args = parser.parse_args()

    have_chord = os.path.isfile(args.binary) and os.access(args.binary, os.X_OK)
    if not have_chord:
        print(f"chord binary {args.binary} not found (build the chord-bench-ddp target); running the Python peer only\n",
              file=sys.stderr, flush=True)
    json_dir = args.json_dir or tempfile.mkdtemp(prefix="compare_ddp_")
    os.makedirs(json_dir, exist_ok=True)

    results = {}  # (side, preset, procs) -> JSON of the fastest round
    port = args.base_port
    for round_ in range(args.rounds):
        for preset in args.presets:
            for procs in args.procs:
                run_args = ["--preset", preset, "--batch", str(args.batch), "--steps", str(args.steps),
                            "--warmup", str(args.warmup)] + (["--fused-adamw"] if args.fused_adamw else [])
                sides = (["chord"] if have_chord else []) + ["ddp"]
                for side in sides:
                    path = os.path.join(json_dir, f"{side}_{preset}_p{procs}_r{round_}.json")
                    print(f"round {round_ + 1}/{args.rounds}: {side} {preset} P={procs} (port {port})",
                          file=sys.stderr, flush=True)
                    if side == "chord":
                        got = torchrun(procs, port, args.binary, run_args, path, None)
                    else:
                        got = torchrun(procs, port, PEER, run_args, path, args.python)
                    port += 1
                    key = (side, preset, procs)
                    results[key] = best(results.get(key), got)

    def field(side, preset, procs, name):
        got = results.get((side, preset, procs))
        return None if got is None else got[name]

    def efficiency(side, preset, procs):
        one, many = field(side, preset, 1, "items_per_second"), field(side, preset, procs, "items_per_second")
        return None if one is None or many is None else many / (procs * one)

    def exposed(side, preset, procs):
        total, alone = field(side, preset, procs, "backward_ms"), field(side, preset, procs, "backward_ms_no_sync")
        return None if total is None or alone is None else total - alone

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"batch {args.batch} per process, {args.steps} timed steps after {args.warmup} warm-up, "
          f"best of {args.rounds} round(s), OMP_NUM_THREADS=1, Gloo, "
          f"AdamW {'fused' if args.fused_adamw else 'loop'}\n")
    print("| preset | P | chord ms/step | DDP ms/step | DDP / chord | chord items/s | DDP items/s "
          "| chord scaling eff. | DDP scaling eff. | chord exposed comm ms | DDP exposed comm ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for preset in args.presets:
        for procs in args.procs:
            chord_ms, ddp_ms = field("chord", preset, procs, "ms_per_step"), field("ddp", preset, procs, "ms_per_step")
            ratio = None if chord_ms is None or ddp_ms is None else ddp_ms / chord_ms
            print(f"| {preset} | {procs} | {fmt(chord_ms, '.1f')} | {fmt(ddp_ms, '.1f')} | {fmt(ratio, '.2f')}"
                  f" | {fmt(field('chord', preset, procs, 'items_per_second'), '.2f')}"
                  f" | {fmt(field('ddp', preset, procs, 'items_per_second'), '.2f')}"
                  f" | {fmt(efficiency('chord', preset, procs), '.2f')} | {fmt(efficiency('ddp', preset, procs), '.2f')}"
                  f" | {fmt(exposed('chord', preset, procs), '.1f')} | {fmt(exposed('ddp', preset, procs), '.1f')} |",
                  flush=True)
    for preset in args.presets:  # the same model in both: the same gradient buckets, or the comparison is off
        for procs in [p for p in args.procs if p > 1]:
            mine, theirs = field("chord", preset, procs, "bucket_bytes"), field("ddp", preset, procs, "bucket_bytes")
            if mine is not None and theirs is not None:
                same = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
                print(f"\n{preset} P={procs} gradient buckets (bytes, all-reduce order): chord {len(mine)}, DDP {len(theirs)}, "
                      f"the first {same} equal" + ("" if mine == theirs else f"; then chord {mine[same:]}, DDP {theirs[same:]}"))
    print(f"\nrun JSONs: {json_dir}")


if __name__ == "__main__":
    main()

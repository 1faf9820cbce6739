"""Python peer of build/benchmarks/chord-bench-ddp: F5-TTS (pip f5-tts 1.1.20, CFM + DiT) trained data-parallel
with torch.nn.parallel.DistributedDataParallel over Gloo, fp32 on CPU, one thread per process.

    OMP_NUM_THREADS=1 ~/.cache/chord/reference-torch-2.11.0/bin/python -m torch.distributed.run --standalone \
        --nproc-per-node=2 benchmarks/peers/ddp_f5tts_peer.py --preset tiny --batch 2 --steps 5 --warmup 2 \
        --json /tmp/ddp.json

Same model configuration and data shapes as f5tts_peer.py (vocab 2545, mel 100, text length 40, 256 frames
per item, random weights), AdamW lr 1e-4. Each process draws its own batch from a generator seeded with its
rank and reuses it every step. After --warmup untimed steps, --steps timed steps measure:
  forward   the model(...) call that returns the CFM loss
  backward  loss.backward(), which includes DDP's wait for the last all-reduce (the reducer finalises at the
            end of backward)
  optimizer optimizer.step() + zero_grad()
then --steps more steps inside model.no_sync() give backward_ms_no_sync (no gradient communication), so
backward_ms - backward_ms_no_sync is the communication not hidden behind backward. Rank 0 writes the JSON
with its own means.

DDP options: broadcast_buffers=False (the model's buffers, e.g. the 8192x64 text position table, are constants;
the default would broadcast them in every forward), find_unused_parameters=False (every parameter gets a
gradient in every step). --broadcast-buffers / --find-unused restore accelerate's choices as used by F5-TTS's
trainer, for comparison.
"""
import argparse
import json
import os
import random
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from f5tts_peer import PRESETS, TEXT, TRAIN_FRAMES, VOCAB, build


def bucket_bytes(ddp):
    """The reducer's gradient buckets in all-reduce order (rebuilt after the first step), in bytes."""
    data = ddp._get_ddp_logging_data()
    sizes = data.get("rebuilt_bucket_sizes") or data.get("bucket_sizes") or ""
    return [int(size) for size in str(sizes).split(",") if size.strip()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--batch", type=int, default=2, help="items per process")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", default=None, help="rank 0 writes the result here (always printed too)")
    parser.add_argument("--broadcast-buffers", action="store_true")
    parser.add_argument("--find-unused", action="store_true")
    parser.add_argument("--fused-adamw", action="store_true", help="AdamW(fused=True): ATen's fused kernel")
    args = parser.parse_args()

    torch.set_num_threads(1)
    dist.init_process_group("gloo")  # rank, world size, master address/port from torchrun's environment
    rank, world = dist.get_rank(), dist.get_world_size()

    model = build(args.preset).train()  # same seeded random weights on every rank; DDP broadcasts rank 0's anyway
    ddp = DistributedDataParallel(model, broadcast_buffers=args.broadcast_buffers,
                                  find_unused_parameters=args.find_unused)
    optimizer = torch.optim.AdamW(ddp.parameters(), lr=1e-4, fused=args.fused_adamw or None)

    torch.manual_seed(rank)  # CFM draws time steps and noise from the global generator
    random.seed(rank)  # and its condition drop-out from Python's random
    g = torch.Generator().manual_seed(rank)
    mel = torch.randn(args.batch, TRAIN_FRAMES, 100, generator=g)
    text = torch.randint(0, VOCAB, (args.batch, TEXT), generator=g)
    lens = torch.full((args.batch,), TRAIN_FRAMES)

    def step():
        t0 = time.perf_counter()
        loss, _, _ = ddp(mel, text, lens=lens)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad()
        t3 = time.perf_counter()
        return t3 - t0, t1 - t0, t2 - t1, t3 - t2

    for _ in range(args.warmup):
        step()
    dist.barrier()
    synced = [step() for _ in range(args.steps)]
    dist.barrier()
    with ddp.no_sync():  # forward must run inside too: DDP decides at forward time whether backward reduces
        unsynced = [step() for _ in range(args.steps)]
    dist.barrier()

    def mean_ms(rows, column):
        return 1e3 * sum(r[column] for r in rows) / len(rows)

    ms_per_step = mean_ms(synced, 0)
    result = {
        "system": "pytorch-ddp",
        "preset": args.preset,
        "world": world,
        "batch_per_rank": args.batch,
        "steps": args.steps,
        "fused_adamw": args.fused_adamw,
        "ms_per_step": ms_per_step,
        "forward_ms": mean_ms(synced, 1),
        "backward_ms": mean_ms(synced, 2),
        "optimizer_ms": mean_ms(synced, 3),
        "backward_ms_no_sync": mean_ms(unsynced, 2),
        "items_per_second": world * args.batch / (ms_per_step / 1e3),
        "bucket_bytes": bucket_bytes(ddp),
        "torch": torch.__version__,
    }
    if rank == 0:
        text_out = json.dumps(result, indent=2)
        print(text_out, flush=True)
        if args.json:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json, "w") as f:
                f.write(text_out + "\n")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

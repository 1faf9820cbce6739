"""Makes the distributed-sharding parity fixture: which of F5-TTS's dynamic batches each process gets.

Run in the reference venv (scripts/setup.sh --reference), from the repository root:

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_distributed_fixtures.py

F5-TTS's trainer (f5_tts/model/trainer.py, batch_size_type "frame") builds a DataLoader with
batch_sampler=DynamicBatchSampler(...) and passes it through accelerator.prepare. With more than one process,
accelerate replaces the batch sampler by accelerate.data_loader.BatchSamplerShard(dynamic_sampler,
num_processes=W, process_index=r, split_batches=False, even_batches=...). This script runs that class over
the f5 sampler and records what each rank yields.

What the runs show (asserted below, so a changed accelerate or f5-tts fails loudly):
  * DynamicBatchSampler sets drop_last = True and has no batch_size, so BatchSamplerShard hands rank r the
    global batches r, r+W, r+2W, ... of the epoch's shuffled list and stops after floor(L/W) of them: the
    last L mod W batches are dropped, on every rank. even_batches (True or False; the trainer sets False)
    makes no difference, because the drop_last path returns before even_batches is looked at.
  * Keys w{W}_r{R}_e{E}_* are for the sampler at set_epoch(E). Note that under accelerate 1.15 + f5-tts
    1.1.20 with W > 1 the trainer never reaches DynamicBatchSampler.set_epoch (the prepared loader's
    batch_sampler is the BatchSamplerShard, which has no set_epoch), so every epoch of a multi-process run
    uses the epoch-0 order; with W = 1 the epoch does advance.

Outputs tests/fixtures/distributed_shards.safetensors:
  frames                    float64 [300]   per-utterance frame counts fed to the sampler
  e{E}_indices, e{E}_sizes  int64           the whole (unsharded) batch list of epoch E, flat + per-batch sizes
  w{W}_r{R}_e{E}_indices    int64           flat indices of the batches rank R of W gets, in order
  w{W}_r{R}_e{E}_sizes      int64           sizes of those batches
"""
import os
import sys
from importlib.metadata import version

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from make_foundation_fixtures import OUT, FrameLengths, check_versions, save  # noqa: E402

THRESHOLD, MAX_SAMPLES, RANDOM_SEED = 3000, 12, 666
WORLDS, EPOCHS = (2, 3), (0, 1)
ACCELERATE = "1.15.0"  # what f5-tts 1.1.20 pulled into the reference venv


def flat(batches):
    indices = torch.tensor([i for b in batches for i in b], dtype=torch.int64)
    sizes = torch.tensor([len(b) for b in batches], dtype=torch.int64)
    return indices, sizes


def shards():
    from accelerate.data_loader import BatchSamplerShard
    from f5_tts.model.dataset import DynamicBatchSampler

    rng = np.random.default_rng(7)
    durations = rng.uniform(0.3, 12.0, size=300)
    frames = [float(d * 24000 / 256) for d in durations]
    dyn = DynamicBatchSampler(torch.utils.data.SequentialSampler(FrameLengths(frames)), THRESHOLD,
                              max_samples=MAX_SAMPLES, random_seed=RANDOM_SEED, drop_residual=False)
    assert dyn.drop_last and getattr(dyn, "batch_size", None) is None
    count = len(dyn)
    out = {"frames": torch.tensor(frames, dtype=torch.float64)}
    for epoch in EPOCHS:
        dyn.set_epoch(epoch)
        everything = list(iter(dyn))
        out[f"e{epoch}_indices"], out[f"e{epoch}_sizes"] = flat(everything)
        for world in WORLDS:
            for rank in range(world):
                shard = BatchSamplerShard(dyn, num_processes=world, process_index=rank, split_batches=False)
                got = list(iter(shard))
                # The rule (see the docstring); even_batches=False (what the trainer sets) must agree.
                assert got == [everything[rank + k * world] for k in range(count // world)], (world, rank, epoch)
                assert len(shard) == count // world
                uneven = BatchSamplerShard(dyn, num_processes=world, process_index=rank, split_batches=False,
                                           even_batches=False)
                assert list(iter(uneven)) == got
                key = f"w{world}_r{rank}_e{epoch}"
                out[f"{key}_indices"], out[f"{key}_sizes"] = flat(got)
    print(f"{count} batches per epoch; per rank: " + ", ".join(f"W={w}: {count // w} (drops {count % w})" for w in WORLDS))
    save("distributed_shards.safetensors", out,
         {"rule": "rank r of W gets global batches r, r+W, ..., floor(L/W) of them; last L mod W dropped"})


if __name__ == "__main__":
    check_versions()
    if not version("accelerate").startswith(ACCELERATE):
        sys.exit(f"accelerate {version('accelerate')} installed, this fixture is pinned to {ACCELERATE}")
    os.makedirs(OUT, exist_ok=True)
    shards()

"""Makes the nearest-neighbour resampling fixture: what `F.interpolate(mode="nearest")` (stable-audio-tools'
DiT resamples its input-concat condition with it) picks for every pair of lengths up to 128, fp32 on CPU.

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_interpolate_fixtures.py

Writes `interpolate_nearest.safetensors` with
  index_sum     int32 [16384]: for in_len in 1..128 (outer loop), for out_len in 1..128 (inner loop), entry
                `(in_len - 1) * 128 + (out_len - 1)` is the sum over i in 0..out_len-1 of idx[i], the source
                frame of output frame i of
                `F.interpolate(arange(in_len, float32).view(1, 1, in_len), size=out_len, mode="nearest")`
                (its output values, as integers);
  weighted_sum  int32 [16384], the same order: the sum of idx[i] * (i + 1) (position-weighted, so that two
                index lists with the same sum but a different order still differ);
  x_26          float32 [1, 3, 26], seeded normal values;
  y_26_to_22    float32 [1, 3, 22] = `F.interpolate(x_26, size=22, mode="nearest")` (output frame 11 reads
                source 12: the float32 scale rule, which a double-precision index gets wrong).
The rule torch applies (ATen UpSample.h, float32 input): `scale = float32(in) / float32(out)`,
`src[i] = min(floor(float32(i * scale)), in - 1)`; float64 input on CPU takes another path, hence float32.
"""
import os
import sys
from importlib.metadata import version

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

PINNED = {"torch": "2.11.0"}
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")
MAX_LEN = 128


def check_versions():
    for package, wanted in PINNED.items():
        got = version(package)
        if not got.startswith(wanted):
            sys.exit(f"{package} {got} installed, fixtures are pinned to {wanted}")


def main():
    check_versions()
    os.makedirs(OUT, exist_ok=True)
    index_sum = torch.zeros(MAX_LEN * MAX_LEN, dtype=torch.int32)
    weighted_sum = torch.zeros(MAX_LEN * MAX_LEN, dtype=torch.int32)
    for in_len in range(1, MAX_LEN + 1):
        source = torch.arange(in_len, dtype=torch.float32).view(1, 1, in_len)
        for out_len in range(1, MAX_LEN + 1):
            picked = F.interpolate(source, size=out_len, mode="nearest").view(-1)
            assert torch.equal(picked, picked.round()) and int(picked.max()) < in_len
            idx = picked.to(torch.int64)
            slot = (in_len - 1) * MAX_LEN + (out_len - 1)
            index_sum[slot] = int(idx.sum())
            weighted_sum[slot] = int((idx * torch.arange(1, out_len + 1)).sum())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 26, generator=g)
    y = F.interpolate(x, size=22, mode="nearest")
    assert torch.equal(y[..., 11], x[..., 12])
    path = os.path.join(OUT, "interpolate_nearest.safetensors")
    tensors = {"index_sum": index_sum, "weighted_sum": weighted_sum, "x_26": x, "y_26_to_22": y.contiguous()}
    save_file(tensors, path,
              # One metadata key: safetensors writes several in a random order.
              metadata={"reference": f"torch {version('torch')}; for in_len in 1..128: for out_len in 1..128"})
    print(f"wrote {path}: {index_sum.numel()} length pairs, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()

"""Checks that a file chord wrote loads in the Python `safetensors` package with the expected values.
Run by CTest (safetensors_interop_python) after chord_tests "[interop]" wrote the file."""
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from safetensors_values import interop_tensors


def main(path):
    loaded = load_file(path)
    expected = interop_tensors()
    assert set(loaded) == set(expected), f"keys differ: {sorted(loaded)} vs {sorted(expected)}"
    for name, tensor in expected.items():
        got = loaded[name]
        assert got.dtype == tensor.dtype, f"{name}: dtype {got.dtype} != {tensor.dtype}"
        assert got.shape == tensor.shape, f"{name}: shape {tuple(got.shape)} != {tuple(tensor.shape)}"
        assert torch.equal(got, tensor), f"{name}: values differ"
    with safe_open(path, framework="pt") as f:
        assert f.metadata().get("writer") == "chord", f"metadata {f.metadata()}"
    print(f"OK: {len(expected)} tensors from {path} match in Python safetensors")


if __name__ == "__main__":
    main(sys.argv[1])

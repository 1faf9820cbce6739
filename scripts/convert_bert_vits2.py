#!/usr/bin/env python3
"""Converts Bert-VITS2 model files between the reference's `.pth` checkpoints (fishaudio/Bert-VITS2
utils.save_checkpoint: a dict {"model": state dict, "iteration": epoch, "optimizer": optimiser state,
"learning_rate": initial rate}) and the `.safetensors` files chord reads and writes
(include/chord/systems/bert_vits2/checkpoints.hpp: the state dict under the same keys, with `step`,
`epoch` and `learning_rate` in the header metadata). chord itself never unpickles.

    python scripts/convert_bert_vits2.py to-safetensors G_1000.pth G_1000.safetensors
    python scripts/convert_bert_vits2.py to-pth G_1000.safetensors G_1000.pth

Works for every network's file (G_, D_, DUR_, WD_). The step is the last number in the file name, as
the reference's utils.get_steps reads it. The optimiser state is not converted: `to-pth` writes
"optimizer": None, which the reference's utils.load_checkpoint accepts both with skip_optimizer true
(the config's default: the key is not read) and false with an optimiser given (a None state is not
loaded; the optimiser starts fresh). Needs torch and safetensors (the reference's environment has both).
"""
import os
import re
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file

DEFAULT_LEARNING_RATE = 2e-4  # configs/config.json train.learning_rate


def step_of(path):
    """The last number in the file name (utils.get_steps reads the whole path; the name is enough)."""
    numbers = re.findall(r"\d+", os.path.basename(path))
    return int(numbers[-1]) if numbers else None


def prefix_of(path):
    match = re.fullmatch(r"([A-Za-z0-9_]+?)_\d+\.(pth|safetensors)", os.path.basename(path))
    return match.group(1) if match else None


def to_safetensors(source, target):
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        sys.exit(f"{source}: not a Bert-VITS2 checkpoint (a dict with 'model', 'iteration', 'optimizer', 'learning_rate')")
    state = checkpoint["model"]
    # DDP-wrapped state dicts carry "module."; utils.save_checkpoint unwraps, other tools may not.
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    tensors = {k: v.detach().clone().contiguous() for k, v in state.items() if torch.is_tensor(v)}
    metadata = {"format": "bert_vits2", "source": os.path.basename(source)}
    if checkpoint.get("iteration") is not None:
        metadata["epoch"] = str(int(checkpoint["iteration"]))
    if checkpoint.get("learning_rate") is not None:
        metadata["learning_rate"] = repr(float(checkpoint["learning_rate"]))
    step, prefix = step_of(source), prefix_of(source)
    if step is not None:
        metadata["step"] = str(step)
    if prefix is not None:
        metadata["prefix"] = prefix
    save_file(tensors, target, metadata=metadata)
    print(f"wrote {target}: {len(tensors)} tensors, metadata {metadata}")


def to_pth(source, target):
    with safe_open(source, framework="pt") as f:
        metadata = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}
    epoch = int(metadata.get("epoch", metadata.get("iteration", 1)))
    learning_rate = float(metadata.get("learning_rate", DEFAULT_LEARNING_RATE))
    # Key order as the file lists them; load_checkpoint looks keys up by name, so order is irrelevant.
    torch.save({"model": state, "iteration": epoch, "optimizer": None, "learning_rate": learning_rate}, target)
    print(f"wrote {target}: {len(state)} tensors, iteration (epoch) {epoch}, learning_rate {learning_rate}")


def main(argv):
    if len(argv) != 4 or argv[1] not in ("to-safetensors", "to-pth"):
        sys.exit(__doc__)
    (to_safetensors if argv[1] == "to-safetensors" else to_pth)(argv[2], argv[3])


if __name__ == "__main__":
    main(sys.argv)

#!/usr/bin/env python3
"""Converts an F5-TTS `.pt` checkpoint (a trainer checkpoint or a released `model_*.pt`) to the
`.safetensors` EMA layout chord loads (`ema_model.transformer.*`, `initted`, `step`).

    python scripts/convert_f5tts_checkpoint.py model_1200000.pt model_1200000.safetensors

Needs only torch and safetensors.
"""
import sys

import torch
from safetensors.torch import save_file


def main(source, target):
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    if "ema_model_state_dict" in checkpoint:
        state = checkpoint["ema_model_state_dict"]
    elif "model_state_dict" in checkpoint:
        state = {"ema_model." + k: v for k, v in checkpoint["model_state_dict"].items()}
    else:
        state = checkpoint
    tensors = {k: v.contiguous() for k, v in state.items() if torch.is_tensor(v)}
    save_file(tensors, target)
    print(f"wrote {target}: {len(tensors)} tensors")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

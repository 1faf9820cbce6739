#!/usr/bin/env python3
"""Converts the original Vocos weights to a safetensors file chord reads (chord::audio::load_vocos).

Needs the PyPI `vocos` package (pip install vocos) and either network access to the Hugging Face hub
or a local copy of the repository (config.yaml + pytorch_model.bin):

    python scripts/convert_vocos.py --out vocos-mel-24khz.safetensors
    python scripts/convert_vocos.py --local-dir path/to/vocos-mel-24khz --out vocos-mel-24khz.safetensors
"""
import argparse
import os

import torch
from safetensors.torch import save_file


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default="charactr/vocos-mel-24khz", help="Hugging Face repository id")
    parser.add_argument("--local-dir", help="folder with config.yaml and pytorch_model.bin instead of the hub")
    parser.add_argument("--out", required=True, help="output .safetensors path")
    args = parser.parse_args()

    from vocos import Vocos

    if args.local_dir:
        model = Vocos.from_hparams(os.path.join(args.local_dir, "config.yaml"))
        state = torch.load(os.path.join(args.local_dir, "pytorch_model.bin"), map_location="cpu")
        model.load_state_dict(state)
    else:
        model = Vocos.from_pretrained(args.repo)
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, args.out, metadata={"source": args.local_dir or args.repo})
    print(f"wrote {args.out}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()

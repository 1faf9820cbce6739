#!/usr/bin/env python3
"""Converts an F5-TTS `.pt` checkpoint (a trainer checkpoint or a released `model_*.pt`) to the
`.safetensors` EMA layout chord loads (`ema_model.transformer.*`, `initted`, `step`).

    python scripts/convert_f5tts_checkpoint.py model_1200000.pt model_1200000.safetensors
    python scripts/convert_f5tts_checkpoint.py model.pt model.safetensors --config F5TTS_v1_Base.yaml
    python scripts/convert_f5tts_checkpoint.py model.pt model.safetensors --attn-mask-enabled

Some of the DiT's options leave no trace in the weights (`text_mask_padding`, `pe_attn_head`,
`attn_mask_enabled`, `text_embedding_average_upsampling`): a model trained with other values than
chord's defaults loads without complaint and computes other numbers. Give the model's training config
(`--config`, the f5-tts YAML: its `model.arch` is read; needs PyYAML) or the flags themselves, and they
are written into the file's metadata, which chord's loaders apply (the keys chord's own exports carry).

Needs only torch and safetensors (and PyYAML for --config).
"""
import argparse

import torch
from safetensors.torch import save_file

# model.arch keys of the f5-tts configs → chord's metadata keys and their text form
FLAG_KEYS = ("text_mask_padding", "attn_mask_enabled", "text_embedding_average_upsampling")


def flags_from_arch(arch):
    """The metadata for the options a `model.arch` mapping sets (keys it lacks are left out)."""
    metadata = {}
    for key in FLAG_KEYS:
        if key in arch and arch[key] is not None:
            metadata[key] = "1" if bool(arch[key]) else "0"
    if "pe_attn_head" in arch:
        value = arch["pe_attn_head"]
        metadata["pe_attn_head"] = "all" if value is None else str(int(value))
    return metadata


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="the F5-TTS .pt checkpoint")
    parser.add_argument("target", help="the .safetensors file to write")
    parser.add_argument("--config", help="the model's f5-tts YAML config (its model.arch options go into the metadata)")
    parser.add_argument("--attn-mask-enabled", action="store_true", help="the model was trained with attn_mask_enabled: True")
    parser.add_argument("--text-embedding-average-upsampling", action="store_true",
                        help="the model was trained with text_embedding_average_upsampling: True")
    parser.add_argument("--v0", action="store_true", help="a v0 model (F5TTS_Base): text_mask_padding False, pe_attn_head 1")
    args = parser.parse_args()

    metadata = {}
    if args.config:
        import yaml
        with open(args.config) as f:
            config = yaml.safe_load(f)
        arch = (config or {}).get("model", {}).get("arch")
        if not isinstance(arch, dict):
            parser.error(f"{args.config} has no model.arch mapping (is it an f5-tts model config?)")
        metadata.update(flags_from_arch(arch))
    if args.v0:
        metadata.update({"text_mask_padding": "0", "pe_attn_head": "1"})
    if args.attn_mask_enabled:
        metadata["attn_mask_enabled"] = "1"
    if args.text_embedding_average_upsampling:
        metadata["text_embedding_average_upsampling"] = "1"

    checkpoint = torch.load(args.source, map_location="cpu", weights_only=True)
    if "ema_model_state_dict" in checkpoint:
        state = checkpoint["ema_model_state_dict"]
    elif "model_state_dict" in checkpoint:
        state = {"ema_model." + k: v for k, v in checkpoint["model_state_dict"].items()}
    else:
        state = checkpoint
    tensors = {k: v.contiguous() for k, v in state.items() if torch.is_tensor(v)}
    save_file(tensors, args.target, metadata=metadata or None)
    flags = ", ".join(f"{k}={v}" for k, v in sorted(metadata.items())) or "none (chord's defaults apply)"
    print(f"wrote {args.target}: {len(tensors)} tensors; options in the metadata: {flags}")


if __name__ == "__main__":
    main()

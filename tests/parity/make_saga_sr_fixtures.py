"""Makes the SAGA-SR backbone parity fixtures from pip `stable-audio-tools` (pinned 0.0.19, the newest on
PyPI; its DiT matches GitHub HEAD: FourierFeatures std 1, CFG in model-output space), fp32 on CPU.

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_saga_sr_fixtures.py

Writes `stable_audio_dit_<cfg>.safetensors` for two small DiT configurations:
  prepend  every condition channel: input concat (at the latent rate and at half of it, so the
           nearest-neighbour resampling is exercised), unprojected cross-attention tokens giving one key/value
           head for two query heads, a global vector and prepended tokens; global vector prepended; heads of
           64 channels, so the rotary embedding covers only the first 32 of each head;
  adaln    projected cross-attention tokens and the global vector through AdaLN.
Each file holds the weights under `model.*` (random normal, std 0.05, so nothing is zero-initialised
away), the inputs, `DiffusionTransformer.forward` outputs with `cfg_scale` 1 and 3 (the package's batched
conditional/unconditional pass), `sample_rf` (Euler, 8 steps, the log-SNR schedule) with CFG 3, and the
package's `NumberEmbedder` and `FourierFeatures` on given values.

The package is imported without its `__init__` (stable_audio_reference.py). flash-attn must not be
installed (it would cast attention to fp16).
"""
import importlib.util
import os
import sys
from importlib.metadata import version

import torch
from safetensors.torch import save_file

from stable_audio_reference import import_stable_audio_tools

PINNED = {"stable-audio-tools": "0.0.19", "torch": "2.11.0"}
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")


def check_versions():
    for package, wanted in PINNED.items():
        got = version(package)
        if not got.startswith(wanted):
            sys.exit(f"{package} {got} installed, fixtures are pinned to {wanted}")
    if importlib.util.find_spec("flash_attn") is not None:
        sys.exit("flash_attn is installed: stable-audio-tools would run attention in fp16; uninstall it")


CONFIGS = {
    "prepend": dict(io_channels=16, input_concat_dim=16, embed_dim=128, depth=2, num_heads=2, cond_token_dim=64,
                    project_cond_tokens=False, global_cond_dim=48, prepend_cond_dim=24, global_cond_type="prepend",
                    diffusion_objective="rectified_flow", ff_kwargs={"mult": 2}),
    "adaln": dict(io_channels=8, embed_dim=64, depth=1, num_heads=1, cond_token_dim=32, project_cond_tokens=True,
                  global_cond_dim=16, global_cond_type="adaLN", diffusion_objective="rectified_flow"),
}
BATCH, FRAMES, TOKENS, PREPEND = 2, 12, 5, 3


def make(name, cfg, classes):
    DiffusionTransformer, NumberEmbedder, FourierFeatures, sample_rf = classes
    torch.manual_seed(0)
    model = DiffusionTransformer(**cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.05)
    g = torch.Generator().manual_seed(1)
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    x = torch.randn(BATCH, cfg["io_channels"], FRAMES, generator=g)
    t = torch.tensor([0.3, 0.85])
    inputs = dict(cross_attn_cond=torch.randn(BATCH, TOKENS, cfg["cond_token_dim"], generator=g),
                  global_embed=torch.randn(BATCH, cfg["global_cond_dim"], generator=g))
    if cfg.get("input_concat_dim"):
        inputs["input_concat_cond"] = torch.randn(BATCH, cfg["input_concat_dim"], FRAMES, generator=g)
        tensors["input_concat_half"] = torch.randn(BATCH, cfg["input_concat_dim"], FRAMES // 2, generator=g)
    if cfg.get("prepend_cond_dim"):
        inputs["prepend_cond"] = torch.randn(BATCH, PREPEND, cfg["prepend_cond_dim"], generator=g)
    tensors.update(x=x, t=t, **inputs)
    if "prepend_cond" in inputs:
        # The package crashes on prepend tokens without a mask when the global vector is prepended too
        # (it concatenates None); the transformer ignores the mask, so all ones changes nothing.
        inputs["prepend_cond_mask"] = torch.ones(BATCH, PREPEND, dtype=torch.bool)
    with torch.no_grad():
        tensors["out"] = model(x, t, **inputs)
        tensors["out_cfg3"] = model(x, t, cfg_scale=3.0, **inputs)
        if "input_concat_half" in tensors:
            half = dict(inputs, input_concat_cond=tensors["input_concat_half"])
            tensors["out_half"] = model(x, t, **half)
        noise = torch.randn(BATCH, cfg["io_channels"], FRAMES, generator=g)
        tensors["noise"] = noise
        tensors["sample_cfg3"] = sample_rf(model, noise, steps=8, device="cpu", cfg_scale=3.0, **inputs)
        torch.manual_seed(2)
        embedder = NumberEmbedder(features=24)
        u = torch.tensor([0.0, 0.25, 0.6, 1.0])
        tensors.update({f"number.{k}": v for k, v in embedder.state_dict().items()})
        tensors["number_u"], tensors["number_out"] = u, embedder(u)
        features = FourierFeatures(1, 256)
        tensors["fourier.weight"], tensors["fourier_out"] = features.weight.detach().clone(), features(t[:, None])
    path = os.path.join(OUT, f"stable_audio_dit_{name}.safetensors")
    save_file({k: v.contiguous() for k, v in tensors.items()}, path)
    print(f"wrote {path}: {len(tensors)} tensors")


def main():
    check_versions()
    classes = import_stable_audio_tools()[1:]
    for name, cfg in CONFIGS.items():
        make(name, cfg, classes)


if __name__ == "__main__":
    main()

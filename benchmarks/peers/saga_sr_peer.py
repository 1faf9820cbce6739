"""Side-by-side peer of benchmarks/bench_saga_sr.cpp: the same DiT configurations through pip
stable-audio-tools 0.0.19 (`DiffusionTransformer`; training step = rectified-flow loss with uniform t
and `cfg_dropout_prob` 0.1, backward, AdamW; sampling = `sample_rf`, 100 Euler steps, `cfg_scale` 3),
random weights, CPU, fp32. Inputs: 128 latent frames, 128 text tokens + 2 roll-off tokens already at
the conditioning width, the roll-off global vector, the low-resolution latent.

The package's ContinuousTransformer wraps every block in `torch.utils.checkpoint` (recomputed in the
backward pass); `checkpointing=False` replaces that with a plain call for a like-for-like figure.

    ~/.cache/chord/reference-torch-2.11.0/bin/python benchmarks/peers/saga_sr_peer.py --filter tiny
"""
import argparse
import os
import re
import sys

import torch

from harness import timed

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "parity"))
from stable_audio_reference import import_stable_audio_tools  # noqa: E402

FRAMES, TOKENS = 128, 128
PRESETS = {  # chord's saga_sr presets (systems/saga_sr.hpp)
    "tiny": dict(embed_dim=64, depth=2, num_heads=1, io_channels=8, cond=64),
    "small": dict(embed_dim=512, depth=8, num_heads=8, io_channels=64, cond=512),
}


TRANSFORMER, DIT, _, _, SAMPLE_RF = import_stable_audio_tools()
SHIPPED_CHECKPOINT = TRANSFORMER.checkpoint


def set_checkpointing(on):
    TRANSFORMER.checkpoint = SHIPPED_CHECKPOINT if on else (lambda function, *args, **kwargs: function(*args, **kwargs))


def build(preset):
    p = PRESETS[preset]
    torch.manual_seed(0)
    model = DIT(io_channels=p["io_channels"], input_concat_dim=p["io_channels"], embed_dim=p["embed_dim"], depth=p["depth"],
                num_heads=p["num_heads"], cond_token_dim=p["cond"], project_cond_tokens=True, global_cond_dim=2 * p["cond"],
                diffusion_objective="rectified_flow")
    with torch.no_grad():
        for q in model.parameters():
            q.normal_(0.0, 0.02)
    g = torch.Generator().manual_seed(1)
    inputs = lambda batch: dict(cross_attn_cond=torch.randn(batch, TOKENS + 2, p["cond"], generator=g),
                                global_embed=torch.randn(batch, 2 * p["cond"], generator=g),
                                input_concat_cond=torch.randn(batch, p["io_channels"], FRAMES, generator=g))
    return model, inputs, p["io_channels"]


def train_step(preset, batch, min_time, checkpointing=True):
    set_checkpointing(checkpointing)
    model, inputs, channels = build(preset)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    cond = inputs(batch)
    x0 = torch.randn(batch, channels, FRAMES)

    def step():
        optimizer.zero_grad()
        t = torch.rand(batch)
        noise = torch.randn_like(x0)
        x_t = (1 - t[:, None, None]) * x0 + t[:, None, None] * noise
        out = model(x_t, t, cfg_dropout_prob=0.1, **cond)
        loss = torch.nn.functional.mse_loss(out, noise - x0)
        loss.backward()
        optimizer.step()

    return timed(step, min_time)


def sample(preset, batch, min_time, checkpointing=True):
    set_checkpointing(checkpointing)
    model, inputs, channels = build(preset)
    model.eval()
    cond = inputs(batch)
    noise = torch.randn(batch, channels, FRAMES)

    def run():
        with torch.inference_mode():
            SAMPLE_RF(model, noise, steps=100, device="cpu", cfg_scale=3.0, disable_tqdm=True, **cond)

    return timed(run, min_time)


CASES = {
    "BM_SagaSR_TrainStep/tiny/batch:4": lambda m, c: train_step("tiny", 4, m, c),
    "BM_SagaSR_Sample/tiny/batch:1": lambda m, c: sample("tiny", 1, m, c),
    "BM_SagaSR_TrainStep/small/batch:4": lambda m, c: train_step("small", 4, m, c),
    "BM_SagaSR_Sample/small/batch:1": lambda m, c: sample("small", 1, m, c),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--filter", default=".*")
    parser.add_argument("--min-time", type=float, default=2.0)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, run in CASES.items():
        if re.search(args.filter, name):
            for checkpointing in (True, False):
                seconds, runs = run(args.min_time, checkpointing)
                label = "as shipped" if checkpointing else "no checkpointing"
                print(f"{name:40s} {label:17s} {seconds * 1e3:12.1f} ms  ({runs} runs)", flush=True)


if __name__ == "__main__":
    main()

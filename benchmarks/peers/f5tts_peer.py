"""Side-by-side peer of benchmarks/bench_f5tts.cpp: the same configurations through pip f5-tts 1.1.20
(`CFM.forward` + backward + AdamW; `CFM.sample` with NFE 32), random weights; CPU and fp32 unless
`--device cuda` / `--autocast bf16` (the chord side reads CHORD_BENCH_DEVICE / CHORD_BENCH_AUTOCAST).

    ~/.cache/chord/reference-torch-2.11.0/bin/python benchmarks/peers/f5tts_peer.py --filter tiny

Prints one line per case in the benchmark's naming, with the mean wall time per call.
"""
import argparse
import contextlib
import re

import torch

from harness import timed
from f5_tts.model import CFM, DiT

VOCAB, PROMPT, TOTAL, TEXT, TRAIN_FRAMES = 2545, 94, 188, 40, 256
PRESETS = {
    "tiny": dict(dim=128, depth=4, heads=2, ff_mult=2, text_dim=64, conv_layers=2),
    "v1_small": dict(dim=768, depth=18, heads=12, ff_mult=2, text_dim=512, conv_layers=4),
    "v1_base": dict(dim=1024, depth=22, heads=16, ff_mult=2, text_dim=512, conv_layers=4),
}
DEVICE = torch.device("cpu")
AUTOCAST = None  # torch.bfloat16 for bf16 autocast


def configure(device, autocast):
    """Where and in which precision the cases run (the chord side's CHORD_BENCH_DEVICE / CHORD_BENCH_AUTOCAST)."""
    global DEVICE, AUTOCAST
    DEVICE = torch.device(device)
    AUTOCAST = torch.bfloat16 if autocast == "bf16" else None


def region(fn):
    """`fn` under the configured autocast, waiting for the device's work so that the time covers it."""
    def run():
        with torch.autocast(DEVICE.type, dtype=AUTOCAST) if AUTOCAST else contextlib.nullcontext():
            fn()
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
    return run


def build(preset):
    torch.manual_seed(0)
    model = CFM(transformer=DiT(**PRESETS[preset], text_num_embeds=VOCAB, mel_dim=100))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    return model.to(DEVICE)


def train_step(preset, batch, min_time, fused=False):
    model = build(preset).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused or None)
    g = torch.Generator().manual_seed(1)
    mel = torch.randn(batch, TRAIN_FRAMES, 100, generator=g).to(DEVICE)
    text = torch.randint(0, VOCAB, (batch, TEXT), generator=g).to(DEVICE)
    lens = torch.full((batch,), TRAIN_FRAMES, device=DEVICE)

    def step():
        optimizer.zero_grad()
        loss, _, _ = model(mel, text, lens=lens)
        loss.backward()
        optimizer.step()

    return timed(region(step), min_time)


def adamw_step(preset, fused, min_time):
    """The optimiser step alone, gradients in place: the default loop (foreach off on the CPU) or fused."""
    model = build(preset)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused or None)
    g = torch.Generator(device=DEVICE).manual_seed(1)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=g, device=DEVICE) * 1e-3
    optimizer.step()
    return timed(region(optimizer.step), min_time)


def sample(preset, batch, cfg, min_time):
    model = build(preset)
    g = torch.Generator().manual_seed(1)
    prompt = torch.randn(batch, PROMPT, 100, generator=g).to(DEVICE)
    text = torch.randint(0, VOCAB, (batch, TEXT), generator=g).to(DEVICE)
    duration = torch.full((batch,), TOTAL, device=DEVICE)

    def run():
        with torch.inference_mode():
            model.sample(cond=prompt, text=text, duration=duration, steps=32, cfg_strength=2.0 if cfg else 0.0,
                         sway_sampling_coef=-1.0, seed=7)

    return timed(region(run), min_time)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--filter", default=".*")
    parser.add_argument("--min-time", type=float, default=2.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--autocast", choices=("fp32", "bf16"), default="fp32")
    args = parser.parse_args()
    configure(args.device, args.autocast)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    cases = []
    for preset in ("tiny", "v1_small"):
        cases.append((f"BM_F5TTS_TrainStep/{preset}/batch:4", lambda p=preset: train_step(p, 4, args.min_time)))
        for batch in (1, 4):
            for cfg in (0, 1):
                cases.append((f"BM_F5TTS_Sample/{preset}/batch:{batch}/cfg:{cfg}",
                              lambda p=preset, b=batch, c=cfg: sample(p, b, c, args.min_time)))
    cases.append(("BM_F5TTS_TrainStep/v1_base/batch:1", lambda: train_step("v1_base", 1, args.min_time)))
    cases.append(("BM_F5TTS_Sample/v1_base/batch:1/cfg:1", lambda: sample("v1_base", 1, 1, args.min_time)))
    for name, run in cases:
        if re.search(args.filter, name):
            seconds, runs = run()
            print(f"{name:45s} {seconds * 1e3:12.1f} ms  ({runs} runs)", flush=True)


if __name__ == "__main__":
    main()

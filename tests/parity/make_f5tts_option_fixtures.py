"""Makes the F5-TTS option parity fixtures from the pip `f5-tts` package (pinned 1.1.20, torchdiffeq 0.2.5),
fp32 on CPU: DiT options beyond the two published layouts, and every fixed-grid ODE method of `CFM.sample`.

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_f5tts_option_fixtures.py

Writes `f5tts_opt_<name>.safetensors` for four DiT configurations, all with dim=32, depth=2, ff_mult=2,
text_dim=16, text_num_embeds=30, mel_dim=100, dropout=0.0:
  dh16      heads=2, dim_head=16, conv_layers=2, qk_norm="rms_norm", long_skip_connection=True
  dh32v0    heads=2, dim_head=32, conv_layers=2, text_mask_padding=False, pe_attn_head=1
  dh24mask  heads=2, dim_head=24, conv_layers=0, attn_mask_enabled=True
  avgmask   heads=2, dim_head=16, conv_layers=2, attn_mask_enabled=True, text_embedding_average_upsampling=True
(options not named keep the package defaults). Weights are random (normal, std 0.05; the rotary `inv_freq`
buffer keeps its value) so that nothing is zero-initialised away; except the q/k RMSNorm weights of dh16
(`transformer.transformer_blocks.{i}.attn.{q,k}_norm.weight`), drawn from N(1, 0.3): scales near 0 would make
every attention near uniform and hide the option.

Tensors in each file:
  transformer.*       the CFM's state dict exactly as `CFM.state_dict()` names it (only `transformer.*` keys;
                      includes the persistent buffer `transformer.rotary_embed.inv_freq [dim_head / 2]`);
  x, cond             float32 [2, 24, 100]; item 1 is zero beyond its 17 valid frames (as a collate pads);
  text                int64 [2, 8], ids in [0, 29]; row 1 has 5 tokens then -1;
  time                float32 [2];
  lens                int64 [2] = [24, 17];
  out_masked          float32 [2, 24, 100] = DiT.forward(x, cond, text, time, mask=lens_to_mask(lens));
  out_alone1          float32 [1, 17, 100] = DiT.forward(x[1:2, :17], cond[1:2, :17], text[1:2, :5], time[1:2],
                      mask=None) (item 1 alone; equals out_masked[1, :17] only up to the reference's own
                      batch dependence: none with conv_layers=0 and the key mask, ~1e-5 with ConvNeXt blocks,
                      whose GRN norm spans the padded frames, large without attn_mask_enabled);
  sample_lens         int64 [2] = [12, 14], the prompt lengths passed to CFM.sample as `lens` (the prompt of
                      item 0 is shorter than `lens[0]` = 24: with a 24-frame prompt CFM.sample raises the
                      duration to 25 = prompt + 1, leaving one generated frame);
  sample_duration     int64 [2] = [24, 21], `duration` (unchanged by CFM.sample's lower bound
                      max(text tokens, prompt length) + 1);
  sample_noise        float32 [2, 24, 100], the initial noise y0 exactly as CFM.sample builds it with
                      seed=SEED: for each item i, `torch.manual_seed(SEED); randn(duration_i, 100)`, then
                      `pad_sequence` (item 1 is zero beyond frame 21). Captured from the `odeint` call;
  sample_t            float32 [8], the time grid handed to `odeint`: steps=7 with the package's default
                      use_epss=True gives the EPSS table [0, 2, 4, 6, 8, 16, 24, 32] / 32, then sway -1:
                      t' = t - (cos(pi/2 t) - 1 + t) = 1 - cos(pi/2 t);
  sample_<method>     float32 [2, 24, 100], CFM.sample(cond=cond, text=text, duration=sample_duration,
                      lens=sample_lens, steps=7, cfg_strength=2.0, sway_sampling_coef=-1.0, seed=SEED) with
                      `odeint_kwargs=dict(method=<method>)`, for method in euler, midpoint, rk4 (torchdiffeq's
                      3/8 rule), heun2, heun3, explicit_adams; the prompt frames are restored from cond as
                      the package does. Item 1's frames 21..23 are NOT zero: the package integrates the ODE
                      on padded frames too (from zero noise, with a non-zero velocity there) and returns
                      them; only `[:sample_duration[i]]` of each item is meaningful to compare.
"""
import os
import sys
from importlib.metadata import version

import torch
from safetensors.torch import save_file

import f5_tts.model.cfm as cfm_module
from f5_tts.model import CFM, DiT
from f5_tts.model.utils import lens_to_mask

PINNED = {"f5-tts": "1.1.20", "torch": "2.11.0", "torchdiffeq": "0.2.5"}
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")

COMMON = dict(dim=32, depth=2, ff_mult=2, text_dim=16, text_num_embeds=30, mel_dim=100, dropout=0.0)
CONFIGS = {
    "dh16": dict(heads=2, dim_head=16, conv_layers=2, qk_norm="rms_norm", long_skip_connection=True),
    "dh32v0": dict(heads=2, dim_head=32, conv_layers=2, text_mask_padding=False, pe_attn_head=1),
    "dh24mask": dict(heads=2, dim_head=24, conv_layers=0, attn_mask_enabled=True),
    "avgmask": dict(heads=2, dim_head=16, conv_layers=2, attn_mask_enabled=True,
                    text_embedding_average_upsampling=True),
}
METHODS = ("euler", "midpoint", "rk4", "heun2", "heun3", "explicit_adams")
BATCH, FRAMES, MEL, TEXT = 2, 24, 100, 8
LENS = [24, 17]
TEXT_LEN1 = 5
SAMPLE_LENS = [12, 14]
SAMPLE_DURATION = [24, 21]
STEPS, CFG, SWAY, SEED = 7, 2.0, -1.0, 1234


def check_versions():
    for package, wanted in PINNED.items():
        got = version(package)
        if not got.startswith(wanted):
            sys.exit(f"{package} {got} installed, fixtures are pinned to {wanted}")


def build(cfg):
    torch.manual_seed(0)
    dit = DiT(**COMMON, **cfg)
    with torch.no_grad():
        for p in dit.parameters():
            p.normal_(0.0, 0.05)
        # q/k RMSNorm scales around 1 (see the docstring), drawn in a fixed order after the others.
        for name, p in dit.named_parameters():
            if ".q_norm." in name or ".k_norm." in name:
                p.normal_(1.0, 0.3)
    model = CFM(transformer=dit)
    model.eval()
    return model


class RecordingOdeint:
    """Wraps cfm.py's `odeint` to keep the initial noise and time grid CFM.sample hands it."""

    def __init__(self, odeint):
        self.odeint = odeint
        self.calls = []

    def __call__(self, fn, y0, t, **kwargs):
        self.calls.append((y0.clone(), t.clone(), dict(kwargs)))
        return self.odeint(fn, y0, t, **kwargs)


def make(name, cfg):
    model = build(cfg)
    dit = model.transformer
    out = {k: v.contiguous().clone() for k, v in model.state_dict().items()}
    assert all(k.startswith("transformer.") for k in out), "unexpected non-transformer keys"
    assert "transformer.rotary_embed.inv_freq" in out

    g = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, FRAMES, MEL, generator=g)
    cond = torch.randn(BATCH, FRAMES, MEL, generator=g)
    x[1, LENS[1]:] = 0
    cond[1, LENS[1]:] = 0
    text = torch.randint(0, COMMON["text_num_embeds"], (BATCH, TEXT), generator=g)
    text[1, TEXT_LEN1:] = -1
    time = torch.rand(BATCH, generator=g)
    lens = torch.tensor(LENS)
    out.update(x=x, cond=cond, text=text, time=time, lens=lens)
    with torch.no_grad():
        out["out_masked"] = dit(x, cond, text, time, mask=lens_to_mask(lens))
        n1 = LENS[1]
        out["out_alone1"] = dit(x[1:2, :n1], cond[1:2, :n1], text[1:2, :TEXT_LEN1], time[1:2], mask=None)

    sample_lens = torch.tensor(SAMPLE_LENS)
    duration = torch.tensor(SAMPLE_DURATION)
    out.update(sample_lens=sample_lens, sample_duration=duration)
    recorder = RecordingOdeint(cfm_module.odeint)
    cfm_module.odeint = recorder
    try:
        for method in METHODS:
            model.odeint_kwargs = dict(method=method)
            sampled, _ = model.sample(cond=cond, text=text, duration=duration, lens=sample_lens, steps=STEPS,
                                      cfg_strength=CFG, sway_sampling_coef=SWAY, seed=SEED)
            assert sampled.shape == (BATCH, FRAMES, MEL), sampled.shape
            out[f"sample_{method}"] = sampled
    finally:
        cfm_module.odeint = recorder.odeint
    noise, grid, _ = recorder.calls[0]
    for y0, t, kwargs in recorder.calls:
        assert torch.equal(y0, noise) and torch.equal(t, grid)
    assert [c[2]["method"] for c in recorder.calls] == list(METHODS)
    # The noise is what the docstring says: per item, reseeded, then zero-padded.
    for i, d in enumerate(SAMPLE_DURATION):
        torch.manual_seed(SEED)
        assert torch.equal(noise[i, :d], torch.randn(d, MEL)) and not noise[i, d:].any()
    epss = torch.tensor([0, 2, 4, 6, 8, 16, 24, 32], dtype=torch.float32) / 32
    assert torch.equal(grid, epss + SWAY * (torch.cos(torch.pi / 2 * epss) - 1 + epss))
    out.update(sample_noise=noise, sample_t=grid)

    path = os.path.join(OUT, f"f5tts_opt_{name}.safetensors")
    save_file({k: v.contiguous() for k, v in out.items()}, path,
              # One metadata key: safetensors writes several in a random order (the file would not be
              # byte-for-byte reproducible).
              metadata={"reference": f"f5-tts {version('f5-tts')}, torchdiffeq {version('torchdiffeq')}"})
    diff = (out["out_masked"][1, :LENS[1]] - out["out_alone1"][0]).abs().max().item()
    print(f"wrote {path}: {len(out)} tensors, {os.path.getsize(path)} bytes; "
          f"batched vs alone max|diff| {diff:.2e}")


if __name__ == "__main__":
    check_versions()
    os.makedirs(OUT, exist_ok=True)
    for name, cfg in CONFIGS.items():
        make(name, cfg)

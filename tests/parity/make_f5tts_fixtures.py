"""Makes the F5-TTS parity fixtures from the pip `f5-tts` package (pinned 1.1.20), fp32 on CPU.

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_f5tts_fixtures.py

For two small DiT configurations (v1: text padding masked, RoPE on all heads; v0: neither) it writes
  f5tts_<cfg>_ema.safetensors  the weights as the package's EMA saves them (`initted`, `step`,
                               `ema_model.transformer.*`), the published checkpoint layout;
  f5tts_<cfg>_io.safetensors   inputs and outputs of DiT.forward (batch 1 unmasked, batch 3 with masks,
                               audio/text drops, cfg_infer), of CFM.forward (loss with a seeded
                               generator, with and without drops) and of CFM.sample (NFE 8, CFG 2, sway -1,
                               batch 1 and batch 2, seeded noise).
Weights are random (normal, std 0.05) so that nothing is zero-initialised away.
"""
import os
import sys
from importlib.metadata import version

import torch
from ema_pytorch import EMA
from safetensors.torch import save_file

import f5_tts.model.cfm as cfm_module
from f5_tts.model import CFM, DiT

PINNED = {"f5-tts": "1.1.20", "torch": "2.11.0", "ema-pytorch": "0.8.3"}
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")

CONFIGS = {
    "v1": dict(dim=128, depth=2, heads=2, ff_mult=2, text_dim=64, conv_layers=2, text_num_embeds=40,
               text_mask_padding=True, pe_attn_head=None),
    "v0": dict(dim=128, depth=1, heads=2, ff_mult=2, text_dim=64, conv_layers=2, text_num_embeds=40,
               text_mask_padding=False, pe_attn_head=1),
}


def check_versions():
    for package, wanted in PINNED.items():
        got = version(package)
        if not got.startswith(wanted):
            sys.exit(f"{package} {got} installed, fixtures are pinned to {wanted}")


def build(cfg):
    torch.manual_seed(0)
    dit = DiT(**cfg, mel_dim=100, dropout=0.0)
    with torch.no_grad():
        for p in dit.parameters():
            p.normal_(0.0, 0.05)
    model = CFM(transformer=dit)
    model.eval()
    return model


class FixedRandom:
    """Stands in for `random.random` inside cfm.py so the drop decisions are chosen, not drawn."""

    def __init__(self, value):
        self.value = value

    def __call__(self):
        return self.value


def make(name, cfg):
    model = build(cfg)
    # The EMA copy is taken before sampling: after sample() the DiT holds a thread-local text cache that
    # deepcopy cannot copy. Its weights equal the model's.
    ema = EMA(model, include_online_model=False)
    dit = model.transformer
    out = {}
    g = torch.Generator().manual_seed(1)
    b, n = 3, 48
    x = torch.randn(b, n, 100, generator=g)
    cond = torch.randn(b, n, 100, generator=g)
    text = torch.randint(0, cfg["text_num_embeds"], (b, 30), generator=g)
    text[1, 22:] = -1
    text[2, 12:] = -1
    lens = torch.tensor([48, 40, 33])
    mask = torch.arange(n)[None, :] < lens[:, None]
    time = torch.rand(b, generator=g)
    out.update(x=x, cond=cond, text=text, lens=lens, time=time)
    with torch.no_grad():
        out["fwd_b1"] = dit(x[:1], cond[:1], text[:1], time[:1], mask=None)
        out["fwd_masked"] = dit(x, cond, text, time, mask=mask)
        out["fwd_drop_audio"] = dit(x, cond, text, time, mask=mask, drop_audio_cond=True)
        out["fwd_drop_both"] = dit(x, cond, text, time, mask=mask, drop_audio_cond=True, drop_text=True)
        out["fwd_cfg"] = dit(x, cond, text, time, mask=mask, cfg_infer=True)

    # CFM training loss with a seeded global generator; drops chosen through random().
    mel = torch.randn(b, n, 100, generator=g)
    mel = mel * mask[..., None]
    out["mel"] = mel
    original_random = cfm_module.random
    try:
        for case, value in (("nodrop", 0.9), ("dropboth", 0.0)):
            cfm_module.random = FixedRandom(value)
            torch.manual_seed(777)
            with torch.no_grad():
                loss, cond_used, pred = model(mel, text, lens=lens)
            out[f"loss_{case}"] = loss.reshape(1)
            out[f"loss_{case}_cond"] = cond_used
            out[f"loss_{case}_pred"] = pred
    finally:
        cfm_module.random = original_random

    # Sampling: NFE 8 (EPSS has no 8-step table: uniform), CFG 2, sway -1, seeded noise.
    prompt = mel[:1, :20]
    out["prompt"] = prompt
    text1 = text[:1, :25]
    out["sample_text"] = text1
    sampled, _ = model.sample(cond=prompt, text=text1, duration=44, steps=8, cfg_strength=2.0,
                              sway_sampling_coef=-1.0, seed=1234)
    out["sample_b1"] = sampled
    prompts2 = mel[:2, :24]
    prompt_lens2 = torch.tensor([24, 17])
    text2 = text[:2, :28]
    durations2 = torch.tensor([46, 38])
    sampled2, _ = model.sample(cond=prompts2, text=text2, duration=durations2, lens=prompt_lens2, steps=8,
                               cfg_strength=2.0, sway_sampling_coef=-1.0, seed=99)
    out.update(sample2_prompt=prompts2, sample2_prompt_lens=prompt_lens2, sample2_text=text2,
               sample2_durations=durations2, sample_b2=sampled2)

    save_file({k: v.contiguous().clone() for k, v in out.items()}, os.path.join(OUT, f"f5tts_{name}_io.safetensors"),
              metadata={"f5-tts": version("f5-tts")})
    save_file({k: v.contiguous() for k, v in ema.state_dict().items()},
              os.path.join(OUT, f"f5tts_{name}_ema.safetensors"), metadata={"f5-tts": version("f5-tts")})
    print(f"{name}: wrote fixtures; loss nodrop {out['loss_nodrop'].item():.6f}")


if __name__ == "__main__":
    check_versions()
    os.makedirs(OUT, exist_ok=True)
    for name, cfg in CONFIGS.items():
        make(name, cfg)

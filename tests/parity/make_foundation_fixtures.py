"""Makes the foundation's parity fixtures from the Python reference packages.

Run in the reference venv (scripts/setup.sh --reference), from the repository root:

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_foundation_fixtures.py

Pinned versions (checked below): torch 2.11.0, torchaudio 2.11.0, librosa 0.11.0, f5-tts 1.1.20,
ema-pytorch 0.8.3, safetensors. The outputs are small and committed under tests/fixtures/, so CI needs
none of these packages.
"""
import os
import sys
from importlib.metadata import version

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_values import interop_tensors  # noqa: E402

PINNED = {"torch": "2.11.0", "torchaudio": "2.11.0", "librosa": "0.11.0", "f5-tts": "1.1.20", "ema-pytorch": "0.8.3"}
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")


def check_versions():
    for package, wanted in PINNED.items():
        got = version(package)
        if not got.startswith(wanted):
            sys.exit(f"{package} {got} installed, fixtures are pinned to {wanted}")


def save(name, tensors, metadata=None):
    path = os.path.join(OUT, name)
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata=metadata)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def test_signal(rate, seconds, seed):
    """A chirp plus a little noise: energy across the whole band, deterministic."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    chirp = 0.4 * np.sin(2 * np.pi * (80 * t + 0.5 * (rate / 2.2 - 80) / seconds * t**2))
    return torch.from_numpy((chirp + 0.02 * rng.standard_normal(t.shape)).astype(np.float32))


def masks():
    from f5_tts.model.utils import mask_from_frac_lengths

    seq_len = torch.tensor([37, 100, 5, 64, 250])
    frac = torch.tensor([0.7, 0.95, 0.8, 1.0, 0.71])
    seed = 20241
    torch.manual_seed(seed)
    mask = mask_from_frac_lengths(seq_len, frac)
    save("masks_f5tts.safetensors", {"seq_len": seq_len, "frac": frac, "mask": mask, "seed": torch.tensor(seed)})


def mels():
    import librosa
    import torchaudio
    from f5_tts.model.modules import MelSpec

    wave24 = test_signal(24000, 1.3, 1)[None]
    wave44 = test_signal(44100, 0.8, 2)[None]
    out = {"wave24": wave24, "wave44": wave44}
    out["fb_htk"] = torchaudio.functional.melscale_fbanks(513, 0.0, 12000.0, 100, 24000, norm=None, mel_scale="htk")
    torch.set_default_dtype(torch.float64)
    out["fb_htk_f64"] = torchaudio.functional.melscale_fbanks(513, 0.0, 12000.0, 100, 24000, norm=None, mel_scale="htk")
    torch.set_default_dtype(torch.float32)
    out["fb_slaney"] = torch.from_numpy(librosa.filters.mel(sr=44100, n_fft=2048, n_mels=128, fmin=0, fmax=None)).float()
    out["logmel_vocos"] = MelSpec(mel_spec_type="vocos")(wave24)
    out["logmel_bigvgan"] = MelSpec(mel_spec_type="bigvgan")(wave24)

    # Bert-VITS2 mel_processing.py (v2.3): spectrogram_torch + spec_to_mel_torch at 44.1 kHz.
    n_fft, hop, win = 2048, 512, 2048
    pad = (n_fft - hop) // 2
    y = torch.nn.functional.pad(wave44.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spec = torch.stft(y, n_fft, hop_length=hop, win_length=win, window=torch.hann_window(win), center=False,
                      pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
    spec = torch.sqrt(torch.view_as_real(spec).pow(2).sum(-1) + 1e-6)
    out["vits_linear"] = spec
    out["vits_logmel"] = torch.log(torch.clamp(torch.matmul(out["fb_slaney"], spec), min=1e-5))
    save("mel_reference.safetensors", out, {"torchaudio": version("torchaudio"), "librosa": version("librosa")})


def ema():
    from ema_pytorch import EMA

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(3))
            self.register_buffer("running", torch.zeros(2))
            self.register_buffer("count", torch.zeros((), dtype=torch.long))

    out = {}
    for name, kwargs, steps in [
        ("f5", dict(include_online_model=False), 400),  # F5-TTS trainer: package defaults
        ("sat", dict(beta=0.9999, power=3 / 4, update_every=1, update_after_step=1, include_online_model=False), 60),
    ]:
        model = Tiny()
        ema = EMA(model, **kwargs)
        decays, weights, runnings = [], [], []
        for k in range(steps):
            with torch.no_grad():
                model.weight.copy_(torch.sin(0.1 * k + torch.arange(3.0)))
                model.running.copy_(torch.cos(0.05 * k + torch.arange(2.0)))
                model.count.fill_(k)
            ema.update()
            decays.append(ema.get_current_decay())
            weights.append(ema.ema_model.weight.detach().clone())
            runnings.append(ema.ema_model.running.detach().clone())
        out[f"{name}_decay"] = torch.tensor(decays, dtype=torch.float64)
        out[f"{name}_weight"] = torch.stack(weights)
        out[f"{name}_running"] = torch.stack(runnings)
    save("ema_reference.safetensors", out, {"ema-pytorch": version("ema-pytorch")})


def schedules():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=7.5e-5)
    warmup, total = 10, 30
    sched = torch.optim.lr_scheduler.SequentialLR(
        opt,
        schedulers=[
            torch.optim.lr_scheduler.LinearLR(opt, start_factor=1e-8, end_factor=1.0, total_iters=warmup),
            torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=1e-8, total_iters=total - warmup),
        ],
        milestones=[warmup],
    )
    lrs = []
    for _ in range(40):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    opt2 = torch.optim.AdamW([p], lr=2e-4)
    exp = torch.optim.lr_scheduler.ExponentialLR(opt2, gamma=0.99995)
    exp_lrs = []
    for _ in range(5):
        exp_lrs.append(opt2.param_groups[0]["lr"])
        opt2.step()
        exp.step()
    save("schedules_reference.safetensors",
         {"f5_lr": torch.tensor(lrs, dtype=torch.float64), "exp_lr": torch.tensor(exp_lrs, dtype=torch.float64)})


class FrameLengths:
    """The dataset interface f5-tts's DynamicBatchSampler reads: a length and per-item frame counts."""

    def __init__(self, frames):
        self.frames = frames

    def __len__(self):
        return len(self.frames)

    def get_frame_len(self, i):
        return self.frames[i]


def samplers():
    from f5_tts.model.dataset import DynamicBatchSampler

    rng = np.random.default_rng(5)
    durations = rng.uniform(0.3, 12.0, size=300)
    frames = [float(d * 24000 / 256) for d in durations]
    sampler = torch.utils.data.SequentialSampler(FrameLengths(frames))
    dyn = DynamicBatchSampler(sampler, 3000, max_samples=12, random_seed=666, drop_residual=False)
    out = {"frames": torch.tensor(frames, dtype=torch.float64)}
    for epoch in range(3):
        dyn.set_epoch(epoch)
        batches = list(iter(dyn))
        out[f"epoch{epoch}_indices"] = torch.tensor([i for b in batches for i in b])
        out[f"epoch{epoch}_sizes"] = torch.tensor([len(b) for b in batches])
    save("samplers_f5tts.safetensors", out)


def safetensors_interop():
    save("python_written.safetensors", interop_tensors(), {"writer": "python safetensors"})


if __name__ == "__main__":
    check_versions()
    os.makedirs(OUT, exist_ok=True)
    masks()
    mels()
    ema()
    schedules()
    samplers()
    safetensors_interop()

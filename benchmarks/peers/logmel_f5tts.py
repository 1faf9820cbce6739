"""Side-by-side peer of BM_LogMel: F5-TTS's MelSpec (torchaudio) on the same input sizes.

    ~/.cache/chord/reference-torch-2.11.0/bin/python benchmarks/peers/logmel_f5tts.py
"""
import time

import torch
from f5_tts.model.modules import MelSpec


def main():
    torch.set_grad_enabled(False)
    mel = MelSpec(mel_spec_type="vocos")
    for batch in (1, 8):
        wave = torch.randn(batch, 10 * 24000) * 0.1
        mel(wave)
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < 3.0:
            out = mel(wave)
            runs += 1
        seconds = (time.perf_counter() - start) / runs
        frames = out.shape[0] * out.shape[2]
        print(f"f5_tts MelSpec vocos, 10 s, batch {batch}: {seconds * 1e3:.2f} ms, {frames / seconds / 1e3:.1f}k frames/s")


if __name__ == "__main__":
    main()

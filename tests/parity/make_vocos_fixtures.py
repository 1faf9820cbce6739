"""Makes the Vocos parity fixture from the PyPI `vocos` package (0.1.0): a small random-weight model
(the real architecture, fewer and narrower layers), its state dict, an input log-mel and the audio
`Vocos.decode` makes of it.

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_vocos_fixtures.py
"""
import os
import sys
from importlib.metadata import version

import torch
from safetensors.torch import save_file
from vocos import Vocos
from vocos.feature_extractors import MelSpectrogramFeatures
from vocos.heads import ISTFTHead
from vocos.models import VocosBackbone

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")

if not version("vocos").startswith("0.1.0"):
    sys.exit(f"vocos {version('vocos')} installed, the fixture is pinned to 0.1.0")

torch.manual_seed(0)
model = Vocos(
    feature_extractor=MelSpectrogramFeatures(sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100, padding="center"),
    backbone=VocosBackbone(input_channels=100, dim=64, intermediate_dim=192, num_layers=2),
    head=ISTFTHead(dim=64, n_fft=1024, hop_length=256, padding="same"),
).eval()
with torch.no_grad():
    for p in model.parameters():
        p.normal_(0.0, 0.05)
mel = torch.randn(2, 100, 37, generator=torch.Generator().manual_seed(1)) - 4.0
with torch.no_grad():
    audio = model.decode(mel)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(OUT, "vocos_small_weights.safetensors"))
save_file({"mel": mel, "audio": audio.contiguous()}, os.path.join(OUT, "vocos_small_io.safetensors"))
print("audio", tuple(audio.shape), float(audio.abs().max()))

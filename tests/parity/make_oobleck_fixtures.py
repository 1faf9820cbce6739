"""Makes the Oobleck autoencoder parity fixtures from pip `stable-audio-tools` (pinned 0.0.19), fp32 on CPU.

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_oobleck_fixtures.py

Writes `oobleck_<cfg>.safetensors` for two small autoencoders of the Stable Audio Open family:
  snake  stereo, SnakeBeta, strides (2, 4), 8 latent channels, weights under `pretransform.model.` as in a
         Stable Audio Open `model.safetensors` (the loader must find the prefix);
  elu    mono, ELU, strides (2, 2), final tanh, weights at the top level (an autoencoder checkpoint).
Weights are random (weight_g, weight_v, biases, SnakeBeta α/β all drawn), so nothing sits at its init. The
file also holds `io.audio`, the encoder output `io.moments` (mean and scale), the VAE bottleneck's
`io.mean`/`io.stdev`, and the decoder output `io.decoded` of the mean.
"""
import os
import sys
from importlib.metadata import version

import torch
from safetensors.torch import save_file

from stable_audio_reference import import_stable_audio_tools

PINNED = {"stable-audio-tools": "0.0.19", "torch": "2.11.0"}
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")

CONFIGS = {
    "snake": dict(prefix="pretransform.model.", audio=2, channels=4, c_mults=[1, 2], strides=[2, 4], latent=8,
                  snake=True, tanh=False),
    "elu": dict(prefix="", audio=1, channels=6, c_mults=[1, 2], strides=[2, 2], latent=4, snake=False, tanh=True),
}


def main():
    for package, wanted in PINNED.items():
        if not version(package).startswith(wanted):
            sys.exit(f"{package} {version(package)} installed, fixtures are pinned to {wanted}")
    import_stable_audio_tools()
    import stable_audio_tools.models.autoencoders as autoencoders
    import torch.nn.functional as F

    for name, c in CONFIGS.items():
        torch.manual_seed(0)
        encoder = autoencoders.OobleckEncoder(in_channels=c["audio"], channels=c["channels"], latent_dim=2 * c["latent"],
                                              c_mults=c["c_mults"], strides=c["strides"], use_snake=c["snake"]).eval()
        decoder = autoencoders.OobleckDecoder(out_channels=c["audio"], channels=c["channels"], latent_dim=c["latent"],
                                              c_mults=c["c_mults"], strides=c["strides"], use_snake=c["snake"],
                                              final_tanh=c["tanh"]).eval()
        with torch.no_grad():
            for module in (encoder, decoder):
                for key, p in module.named_parameters():
                    if key.endswith(("alpha", "beta")):
                        p.normal_(0.0, 0.3)
                    elif key.endswith("weight_g"):
                        p.uniform_(0.5, 1.5)
                    else:
                        p.normal_(0.0, 0.3)
        ratio = 1
        for s in c["strides"]:
            ratio *= s
        g = torch.Generator().manual_seed(1)
        audio = 0.5 * torch.randn(2, c["audio"], 5 * ratio, generator=g)
        with torch.no_grad():
            moments = encoder(audio)
            mean, scale = moments.chunk(2, dim=1)
            stdev = F.softplus(scale) + 1e-4
            decoded = decoder(mean)
        tensors = {f"{c['prefix']}encoder.{k}": v for k, v in encoder.state_dict().items()}
        tensors.update({f"{c['prefix']}decoder.{k}": v for k, v in decoder.state_dict().items()})
        tensors.update({"io.audio": audio, "io.moments": moments, "io.mean": mean, "io.stdev": stdev, "io.decoded": decoded})
        path = os.path.join(OUT, f"oobleck_{name}.safetensors")
        save_file({k: v.contiguous() for k, v in tensors.items()}, path,
                  metadata={"stable-audio-tools": version("stable-audio-tools"), "torch": torch.__version__})
        print(f"wrote {path}: decoded {tuple(decoded.shape)}, |decoded| max {decoded.abs().max():.3f}")


if __name__ == "__main__":
    main()

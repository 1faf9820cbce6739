"""Imports pip stable-audio-tools' model and sampling modules without the package `__init__`, which pulls
in its whole training stack (gradio, wandb, laion-clap...): empty parent packages pointing at the
installed folders, and an empty `k_diffusion` (imported by inference/sampling.py, unused by `sample_rf`).
Used by make_saga_sr_fixtures.py and benchmarks/peers/saga_sr_peer.py."""
import os
import sys
import types
from importlib.metadata import distribution


def import_stable_audio_tools():
    """Returns the `transformer` module, `DiffusionTransformer`, `NumberEmbedder`, `FourierFeatures`, `sample_rf`."""
    root = os.path.join(str(distribution("stable-audio-tools").locate_file("")), "stable_audio_tools")
    for name, path in (("stable_audio_tools", root), ("stable_audio_tools.models", os.path.join(root, "models")),
                       ("stable_audio_tools.inference", os.path.join(root, "inference"))):
        package = types.ModuleType(name)
        package.__path__ = [path]
        sys.modules.setdefault(name, package)
    sys.modules.setdefault("k_diffusion", types.ModuleType("k_diffusion"))
    import stable_audio_tools.models.transformer as transformer
    from stable_audio_tools.models.dit import DiffusionTransformer
    from stable_audio_tools.models.adp import NumberEmbedder
    from stable_audio_tools.models.blocks import FourierFeatures
    from stable_audio_tools.inference.sampling import sample_rf
    return transformer, DiffusionTransformer, NumberEmbedder, FourierFeatures, sample_rf

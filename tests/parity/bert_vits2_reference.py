"""Imports fishaudio/Bert-VITS2 (8f7fbd8) modules for fixture scripts. Bert-VITS2 is not a pip package:
pass the folder of a checkout (exported file by file: `git archive` fails on a missing blob under
oldVersion/, see ../../docs/parity.md). Nothing from it is copied into chord.

Importing its `text` package downloads BERT weights (`check_bert_models()`), so a stub `text` module
with only what `models.py` reads (`symbols`: 112 entries, `num_tones` 12, `num_languages` 3) is
installed first, as reference/vits2.md §10 describes.
"""
import os
import sys
import types
from importlib.metadata import version

PINNED = {"torch": "2.11.0"}
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")


def check_versions(extra=None):
    pinned = dict(PINNED, **(extra or {}))
    for package, wanted in pinned.items():
        got = version(package)
        if not got.startswith(wanted):
            sys.exit(f"{package} {got} installed, fixtures are pinned to {wanted}")


def load(checkout):
    """Makes `models`, `modules`, `attentions`, `commons`, `transforms`, `losses`, `mel_processing`,
    `monotonic_align` of the checkout importable; returns the checkout's absolute path."""
    checkout = os.path.abspath(checkout)
    if not os.path.isfile(os.path.join(checkout, "models.py")):
        sys.exit(f"{checkout} is not a Bert-VITS2 checkout (no models.py)")
    text = types.ModuleType("text")
    text.symbols = [f"s{i}" for i in range(112)]
    text.num_tones = 12
    text.num_languages = 3
    symbols = types.ModuleType("text.symbols")
    symbols.symbols, symbols.num_tones, symbols.num_languages = text.symbols, 12, 3
    text.symbols_module = symbols
    sys.modules["text"] = text
    sys.modules["text.symbols"] = symbols
    sys.path.insert(0, checkout)
    return checkout


def start(doc, pinned=None):
    """The command line of a script whose one argument is the checkout: checks the pinned versions (PINNED
    plus `pinned`) and loads the checkout; exits with the script's docstring `doc` otherwise."""
    if len(sys.argv) != 2:
        sys.exit(doc)
    check_versions(pinned)
    return load(sys.argv[1])


def seeded(seed, generator_seed=None):
    """Seeds the global generator with `seed` (module initialisation) and returns an explicit generator
    seeded with `generator_seed` (default `seed`) for perturbations and inputs."""
    import torch

    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed if generator_seed is None else generator_seed)


def perturb(module, gen, weight_g=True, rules=(), only=""):
    """Moves the parameters whose initial value would hide a defect, drawing from `gen` in parameter order:
    LayerNorm `gamma` to 1 + 0.2·N(0, 1), `beta` to 0.1·N(0, 1), with `weight_g` every `weight_g` scaled by
    U(0.5, 1.5) (off ‖weight_v‖), and the first of `rules`, `(predicate(name, p), scale)`, whose predicate
    holds sets p to scale·N(0, 1). Only the parameters whose name starts with `only`."""
    import torch

    with torch.no_grad():
        for name, p in module.named_parameters():
            if not name.startswith(only):
                continue
            leaf = name.split(".")[-1]
            if leaf == "gamma":
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif leaf == "beta":
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif weight_g and leaf == "weight_g":
                p.mul_(0.5 + torch.rand(p.shape, generator=gen))
            else:
                for predicate, scale in rules:
                    if predicate(name, p):
                        p.copy_(scale * torch.randn(p.shape, generator=gen))
                        break


def mask_of(lengths, t):
    """[B, 1, t] float mask of the first lengths[b] frames."""
    import torch

    return (torch.arange(t)[None, :] < torch.tensor(lengths)[:, None]).float().unsqueeze(1)


def put_prefixed(store, prefix, **tensors):
    """store[`prefix`.`name`] = a contiguous detached copy of each tensor."""
    for k, v in tensors.items():
        store[f"{prefix}.{k}"] = v.detach().contiguous().clone()


def put_weights(store, prefix, module):
    """The module's state dict under `prefix.`."""
    put_prefixed(store, prefix, **module.state_dict())


def put(store, prefix, case, **tensors):
    """Inputs and outputs of a case: `io.<prefix>.<case>.<name>`."""
    put_prefixed(store, f"io.{prefix}.{case}", **tensors)


def save_fixture(tensors, name):
    """Writes tests/fixtures/`name` (safetensors) and says so; returns its path."""
    from safetensors.torch import save_file

    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    save_file(tensors, path)
    print(f"wrote {len(tensors)} tensors ({os.path.getsize(path)} bytes) to {path}")
    return path


def dims(shape):
    """A shape as the key lists write it: `d0,d1,...` (empty for a scalar)."""
    return ",".join(str(d) for d in shape)


def key_lines(module, prefix=""):
    """`<prefix><key> <d0,d1,...>` per state-dict entry, in state-dict order."""
    return [f"{prefix}{k} {dims(v.shape)}" for k, v in module.state_dict().items()]


def write_lines(lines, path):
    """Writes the lines of a key list (newline-terminated) to `path`, a name under tests/fixtures/ or a path."""
    path = os.path.join(OUT, path)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} lines ({os.path.getsize(path)} bytes) to {path}")
    return path

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

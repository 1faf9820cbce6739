"""Makes the T5 text-encoder parity fixtures from pip `transformers` and `tokenizers` (versions pinned
below), fp32 on CPU.

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_t5_fixtures.py

Writes
  t5_<cfg>.safetensors  a small random `T5EncoderModel` (relu = T5 1.0 like t5-base; gated = T5 1.1 /
                        ByT5 gated-GELU) as `save_pretrained` writes it, plus `io.ids`, `io.mask` (one
                        padded row) and `io.hidden` = last_hidden_state;
  t5_unigram_tokenizer.json  a SentencePiece-Unigram tokenizer trained here with T5's pre-tokenisation
                        (Metaspace "▁", "$A </s>"), and t5_unigram_expected.json with the ids the
                        `tokenizers` library gives for a few texts, one with characters outside the
                        vocabulary.
"""
import json
import os
import sys
import tempfile
from importlib.metadata import version

import torch
from safetensors.torch import load_file, save_file

PINNED = {"transformers": "5.23", "tokenizers": "0.23", "torch": "2.11.0"}
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")
CONFIGS = {
    "relu": dict(feed_forward_proj="relu", d_model=48, d_kv=12, d_ff=96, num_layers=2, num_heads=4, vocab_size=40,
                 relative_attention_num_buckets=8, relative_attention_max_distance=20),
    "gated": dict(feed_forward_proj="gated-gelu", d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, vocab_size=50,
                  relative_attention_num_buckets=32, relative_attention_max_distance=128),
}
CORPUS = [
    "a bright plucked string melody with a steady hi-hat",
    "warm organ chords under soft noise percussion",
    "a man speaking clearly in a quiet room",
    "bell tones ringing with inharmonic overtones",
    "a fast kick and snare pattern at one hundred and twenty beats per minute",
    "strings and bells, bright and airy",
]
TEXTS = ["a bright bell melody", "strings under a quiet kick pattern", "zebra xylophone!", "  spaced   out  words "]


def model_fixtures():
    from transformers import T5Config, T5EncoderModel
    for name, cfg in CONFIGS.items():
        torch.manual_seed(0)
        model = T5EncoderModel(T5Config(dropout_rate=0.0, **cfg)).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0.0, 0.3)
        g = torch.Generator().manual_seed(1)
        length = 30  # beyond max_exact, so the logarithmic buckets and the clamp are used
        ids = torch.randint(0, cfg["vocab_size"], (2, length), generator=g)
        mask = torch.ones(2, length, dtype=torch.long)
        mask[1, 21:] = 0
        with torch.no_grad():
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        with tempfile.TemporaryDirectory() as folder:
            model.save_pretrained(folder)
            tensors = load_file(os.path.join(folder, "model.safetensors"))
        tensors.update({"io.ids": ids, "io.mask": mask, "io.hidden": hidden})
        path = os.path.join(OUT, f"t5_{name}.safetensors")
        save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata={"transformers": version("transformers")})
        print(f"wrote {path}: {sorted(k for k in tensors if not k.startswith('io.'))[:3]}...")


def tokenizer_fixtures():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                       pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")])
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=90, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    path = os.path.join(OUT, "t5_unigram_tokenizer.json")
    tokenizer.save(path)
    expected = {text: tokenizer.encode(text).ids for text in TEXTS}
    with open(os.path.join(OUT, "t5_unigram_expected.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
    print(f"wrote {path}: {expected}")


def main():
    for package, wanted in PINNED.items():
        if not version(package).startswith(wanted):
            sys.exit(f"{package} {version(package)} installed, fixtures are pinned to {wanted}")
    model_fixtures()
    tokenizer_fixtures()


if __name__ == "__main__":
    main()

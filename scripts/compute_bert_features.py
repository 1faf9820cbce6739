#!/usr/bin/env python3
"""Writes chord's per-utterance BERT features for Bert-VITS2 filelists.

For every line `wav|speaker|language|text|phones|tones|word2ph` of the given filelists this runs the
language's BERT over the line's (normalised) text and stores, next to the WAV, the file chord's
Bert-VITS2 trainer reads (include/chord/systems/bert_vits2/item.hpp, `bert_path`):

    <wav without its extension>.bert.safetensors
        tensor "bert": float32 [hidden, n], contiguous (hidden = 1024 for the published models)
        metadata: {"language": "ZH" | "JP" | "EN", "model": <basename of the --bert directory>}

It computes what fishaudio/Bert-VITS2's `bert_gen.py` saves as `<wav>.bert.pt`:

  * word2ph is adjusted like the dataset does when blanks are added (`--add-blank`, the default, as in
    the 2.x configs): every entry doubled, then one added to the first, so it sums to 2 * phones + 1;
    without blanks it is used as written and sums to the phone count. n = sum(word2ph) is exactly the
    length chord expects (phones after blanks).
  * the text field is tokenised as one sequence with the special tokens ([CLS] ... [SEP]); the model
    runs once per utterance in float32, and the feature of token i is the third-to-last hidden state
    (`hidden_states[-3]`, the input embeddings counting as the first state); token i's feature is
    repeated word2ph[i] times, giving [n, hidden], stored transposed as [hidden, n].
  * models: ZH chinese-roberta-wwm-ext-large (a BERT), JP deberta-v2-large-japanese-char-wwm (character
    tokens), EN deberta-v3-large. Only the hidden states are used, so it does not matter whether the
    directory holds the masked-LM head.
  * the reference's optional style-text mixing is off in `bert_gen.py` and is not offered here.

Differences from the reference, on purpose:
  * everything is checked before any model runs; each bad line is reported as `file:line: problem`, and
    nothing is written while any line is bad (unless --skip-bad, which skips and counts them). Checked:
    7 fields, language ZH/JP/EN with a --bert directory, integer tones/word2ph, as many tones as phones,
    non-negative word2ph summing to the phone count, a WAV that exists, the tokenizer giving exactly
    len(word2ph) tokens with [CLS]/[SEP] (the reference indexes token i for word2ph[i]; with more tokens
    it would silently misalign), for ZH and JP also len(text) + 2 == len(word2ph) (the reference's
    assertion), and a sequence no longer than a model with absolute positions accepts. Phone symbols
    and tone ranges are not checked here (chord's filelist reader does that).
  * JP: the reference re-joins the text's pyopenjtalk segmentation before tokenising. For text written
    by the reference's preprocess_text.py (already normalised) that join gives the same characters, so
    the text field is tokenised as it stands; the length checks above catch a line where it would not.
  * the output path replaces only the WAV's extension (like chord's `bert_path`); the reference's
    `.replace(".wav", ".bert.pt")` touches every ".wav" in the path.
  * relative WAV paths are taken relative to the current directory, as chord's trainer and the
    reference both do.
  * existing outputs are kept unless --overwrite (one with the wrong shape is recomputed); every file
    is written to a temporary file first and renamed into place, so an interrupted run leaves no
    partial file and a rerun resumes.

Needs only torch, transformers and safetensors, and the BERT weights on disk (nothing is downloaded).

    python scripts/compute_bert_features.py --filelist train.list --filelist val.list \\
        --bert ZH=bert/chinese-roberta-wwm-ext-large --bert JP=bert/deberta-v2-large-japanese-char-wwm \\
        --bert EN=bert/deberta-v3-large [--no-add-blank] [--device cuda] [--overwrite] [--skip-bad]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

LANGUAGES = ("ZH", "JP", "EN")
OUTPUT_SUFFIX = ".bert.safetensors"


@dataclass
class Line:
    """One filelist line and what the checks learnt about it."""

    source: str
    number: int
    wav: str = ""
    language: str = ""
    text: str = ""
    phone_count: int = 0
    word2ph: list = field(default_factory=list)  # adjusted for blanks once parsed
    output: Path | None = None
    problems: list = field(default_factory=list)

    def where(self) -> str:
        return f"{self.source}:{self.number}"


def output_path(wav: str) -> Path:
    """chord's `bert_path`: the WAV path with its extension replaced (appended when it has none)."""
    path = Path(wav)
    if path.suffix:
        return path.with_suffix(OUTPUT_SUFFIX)
    return path.with_name(path.name + OUTPUT_SUFFIX)


def parse_ints(field_text: str, name: str, line: Line):
    values = []
    for token in field_text.split(" "):
        try:
            values.append(int(token))
        except ValueError:
            line.problems.append(f"{name} field holds {token!r}, not an integer (space-separated integers expected)")
            return None
    return values


def parse_line(raw: str, line: Line, add_blank: bool) -> None:
    stripped = raw.strip()
    if not stripped:
        line.problems.append("empty line (chord's filelist reader rejects it)")
        return
    fields = stripped.split("|")
    if len(fields) != 7:
        line.problems.append(f"{len(fields)} '|'-separated fields, expected 7 (wav|speaker|language|text|phones|tones|word2ph)")
        return
    wav, _speaker, language, text, phones, tones, word2ph = fields
    line.wav, line.language, line.text = wav, language, text
    if not wav:
        line.problems.append("empty wav path")
    else:
        line.output = output_path(wav)
        if not os.path.isfile(wav):
            line.problems.append(f"WAV {wav!r} does not exist")
    if language not in LANGUAGES:
        line.problems.append(f"unknown language {language!r} (expected ZH, JP or EN)")
    phone_list = phones.split(" ")
    if any(not p for p in phone_list):
        line.problems.append(f"empty phone in {phones!r} (phones are separated by single spaces)")
    line.phone_count = len(phone_list)
    tone_list = parse_ints(tones, "tones", line)
    counts = parse_ints(word2ph, "word2ph", line)
    if tone_list is not None and len(tone_list) != len(phone_list):
        line.problems.append(f"{len(phone_list)} phones but {len(tone_list)} tones")
    if counts is None:
        return
    if any(c < 0 for c in counts):
        line.problems.append(f"negative word2ph entry {min(counts)}")
    if sum(counts) != len(phone_list):
        line.problems.append(f"word2ph sums to {sum(counts)} but there are {len(phone_list)} phones")
    if add_blank:
        counts = [2 * c for c in counts]
        counts[0] += 1
    line.word2ph = counts


def read_filelists(paths, add_blank: bool):
    lines = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            # Lines end at "\n" only, like chord's reader (str.splitlines would also split at \x1c, \u2028, ...).
            content = f.read()
        raws = content.split("\n")
        if raws and raws[-1] == "":
            raws.pop()  # the final newline ends the last line; it does not start an empty one
        for number, raw in enumerate(raws, start=1):
            line = Line(source=str(path), number=number)
            parse_line(raw, line, add_blank)
            lines.append(line)
    return lines


def parse_bert_arguments(values, parser):
    models = {}
    for value in values or []:
        language, sep, path = value.partition("=")
        language = language.strip().upper()
        if not sep or not path:
            parser.error(f"--bert {value!r}: expected LANG=PATH, e.g. ZH=bert/chinese-roberta-wwm-ext-large")
        if language not in LANGUAGES:
            parser.error(f"--bert {value!r}: language must be one of ZH, JP, EN")
        if language in models:
            parser.error(f"--bert: {language} given twice")
        if not os.path.isdir(path):
            parser.error(f"--bert {language}={path}: not a directory")
        if not os.path.isfile(os.path.join(path, "config.json")):
            parser.error(f"--bert {language}={path}: no config.json (a transformers save_pretrained directory is expected)")
        models[language] = path
    return models


def model_name(path: str) -> str:
    return os.path.basename(os.path.normpath(os.path.abspath(path)))


def load_tokenizer(language: str, path: str):
    import transformers

    if language == "EN":
        # The reference uses DebertaV2Tokenizer itself (in transformers 4.x the SentencePiece one, which
        # needs the sentencepiece package); fall back to AutoTokenizer for other model types.
        config = transformers.AutoConfig.from_pretrained(path)
        if getattr(config, "model_type", "") == "deberta-v2":
            try:
                return transformers.DebertaV2Tokenizer.from_pretrained(path)
            except (ImportError, ValueError, OSError) as error:
                print(f"warning: DebertaV2Tokenizer could not load {path} ({error}); using AutoTokenizer", file=sys.stderr)
    return transformers.AutoTokenizer.from_pretrained(path)


def load_model(language: str, path: str, device):
    import torch
    import transformers

    major = int(transformers.__version__.split(".")[0])
    dtype_argument = {"dtype": torch.float32} if major >= 5 else {"torch_dtype": torch.float32}
    # The reference loads the masked-LM class for ZH/JP and the bare model for EN; the hidden states are
    # the same either way. The bare model skips the vocabulary projection.
    model = transformers.AutoModel.from_pretrained(path, **dtype_argument)
    return model.to(device).eval()


def position_limit(path: str):
    """The longest sequence a model with absolute position embeddings accepts, else None."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(path)
    if getattr(config, "model_type", "") == "deberta-v2" and not getattr(config, "position_biased_input", True):
        return None  # relative positions only
    return getattr(config, "max_position_embeddings", None)


def check_tokens(lines, tokenizers, limits):
    for line in lines:
        if line.problems or line.language not in tokenizers:
            continue
        ids = tokenizers[line.language](line.text)["input_ids"]
        if len(ids) != len(line.word2ph):
            line.problems.append(
                f"the {line.language} tokenizer gives {len(ids)} tokens with [CLS]/[SEP] for the text but word2ph has "
                f"{len(line.word2ph)} entries (one per token expected)")
        if line.language in ("ZH", "JP") and len(line.text) + 2 != len(line.word2ph):
            line.problems.append(
                f"the text has {len(line.text)} characters but word2ph has {len(line.word2ph)} entries "
                f"(characters + 2 expected, as the reference asserts)")
        limit = limits.get(line.language)
        if limit is not None and len(ids) > limit:
            line.problems.append(f"{len(ids)} tokens, more than the model's {limit} positions")


def check_duplicates(lines):
    """Two lines writing one file must agree on what goes in it."""
    first = {}
    for line in lines:
        if line.problems or line.output is None:
            continue
        key = os.path.abspath(line.output)
        seen = first.get(key)
        if seen is None:
            first[key] = line
        elif (seen.language, seen.text, seen.word2ph) != (line.language, line.text, line.word2ph):
            line.problems.append(f"writes {line.output} like {seen.where()} but with other language/text/word2ph")


class Progress:
    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def step(self):
        self.done += 1
        now = time.monotonic()
        interval = 0.2 if self.tty else 10.0
        if now - self.last < interval and self.done != self.total:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = f"{left:.0f} s left" if left != float("inf") else "? s left"
        text = f"{self.done}/{self.total} lines, {rate:.2f} lines/s, {elapsed:.0f} s elapsed, {eta}"
        if self.tty:
            end = "\n" if self.done == self.total else ""
            print(f"\r{text}   ", end=end, file=sys.stderr, flush=True)
        else:
            print(text, file=sys.stderr, flush=True)


def existing_is_usable(path: Path, hidden: int, n: int) -> bool:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            if "bert" not in f.keys():
                return False
            shape = list(f.get_slice("bert").get_shape())
    except Exception:
        return False
    return shape == [hidden, n]


def compute(line: Line, tokenizer, model, device):
    import torch

    inputs = tokenizer(line.text, return_tensors="pt")
    inputs = {k: v.to(device) for k, v in inputs.items()}
    with torch.inference_mode():
        outputs = model(**inputs, output_hidden_states=True)
    states = outputs.hidden_states[-3][0]  # [tokens, hidden]
    if states.shape[0] != len(line.word2ph):
        raise RuntimeError(f"{states.shape[0]} token states for {len(line.word2ph)} word2ph entries")
    repeats = torch.tensor(line.word2ph, dtype=torch.long, device=states.device)
    features = torch.repeat_interleave(states, repeats, dim=0)  # [n, hidden]
    return features.t().to("cpu", torch.float32).contiguous()


def write_atomic(path: Path, tensor, metadata) -> None:
    from safetensors.torch import save_file

    directory = path.parent if str(path.parent) else Path(".")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        save_file({"bert": tensor}, temp, metadata=metadata)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Compute chord's <wav>.bert.safetensors BERT features for Bert-VITS2 filelists.",
        epilog="Exit status: 0 done, 1 a computation failed, 2 bad input (nothing written).")
    parser.add_argument("--filelist", action="append", required=True, metavar="PATH",
                        help="a Bert-VITS2 filelist (wav|speaker|language|text|phones|tones|word2ph); repeatable")
    parser.add_argument("--bert", action="append", metavar="LANG=DIR",
                        help="a local transformers directory for ZH, JP or EN; repeatable")
    parser.add_argument("--add-blank", action=argparse.BooleanOptionalAction, default=True,
                        help="the config's data.add_blank (default: on, as in the 2.x configs)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--overwrite", action="store_true", help="recompute files that already exist")
    parser.add_argument("--skip-bad", action="store_true", help="skip bad lines (reported and counted) instead of stopping")
    parser.add_argument("--check-only", action="store_true", help="run the checks, write nothing")
    parser.add_argument("--max-report", type=int, default=200, metavar="N",
                        help="print at most N bad lines (default 200); all are counted")
    parser.add_argument("--verbose", action="store_true", help="keep transformers' own messages (load reports)")
    args = parser.parse_args(argv)

    for path in args.filelist:
        if not os.path.isfile(path):
            parser.error(f"--filelist {path}: no such file")
    models = parse_bert_arguments(args.bert, parser)

    import torch
    import transformers

    if not args.verbose:  # keep stderr to progress and problems (load reports, weight progress bars)
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")

    lines = read_filelists(args.filelist, args.add_blank)
    used = sorted({line.language for line in lines if line.language in LANGUAGES})
    for line in lines:
        if line.language in LANGUAGES and line.language not in models:
            line.problems.append(f"language {line.language} but no --bert {line.language}=DIR given")
    tokenizers = {language: load_tokenizer(language, models[language]) for language in used if language in models}
    limits = {language: position_limit(models[language]) for language in tokenizers}
    check_tokens(lines, tokenizers, limits)
    check_duplicates(lines)

    bad = [line for line in lines if line.problems]
    for line in bad[: args.max_report]:
        for problem in line.problems:
            print(f"{line.where()}: {problem}", file=sys.stderr)
    if len(bad) > args.max_report:
        print(f"... and {len(bad) - args.max_report} more bad lines", file=sys.stderr)
    missing = sorted({line.language for line in lines if line.language in LANGUAGES and line.language not in models})
    if missing:
        print(f"no --bert directory for {', '.join(missing)}", file=sys.stderr)
    print(f"{len(lines)} lines read from {len(args.filelist)} filelist(s), {len(bad)} bad", file=sys.stderr)
    if bad and not args.skip_bad:
        print("nothing written; fix the lines above or pass --skip-bad", file=sys.stderr)
        return 2

    good = [line for line in lines if not line.problems]
    # One computation per output file (a WAV listed twice with the same content).
    unique, seen = [], set()
    for line in good:
        key = os.path.abspath(line.output)
        if key not in seen:
            seen.add(key)
            unique.append(line)
    duplicates = len(good) - len(unique)

    hidden_sizes = {}
    for language in tokenizers:
        hidden_sizes[language] = transformers.AutoConfig.from_pretrained(models[language]).hidden_size
        if hidden_sizes[language] != 1024:
            print(f"warning: the {language} model has hidden size {hidden_sizes[language]}; chord expects 1024 "
                  "unless its bert_dim says otherwise", file=sys.stderr)

    todo, existing = [], 0
    for line in unique:
        if not args.overwrite and line.output.exists() and existing_is_usable(
                line.output, hidden_sizes[line.language], sum(line.word2ph)):
            existing += 1
        else:
            todo.append(line)
    if args.check_only:
        print(f"check only: {len(todo)} files to write, {existing} already present, {len(bad)} bad lines, "
              f"{duplicates} duplicate lines", file=sys.stderr)
        return 0

    written, failed = 0, 0
    progress = Progress(len(todo))
    for language in LANGUAGES:  # one model in memory at a time
        batch = [line for line in todo if line.language == language]
        if not batch:
            continue
        model = load_model(language, models[language], device)
        metadata = {"language": language, "model": model_name(models[language])}
        for line in batch:
            try:
                features = compute(line, tokenizers[language], model, device)
                expected = [hidden_sizes[language], sum(line.word2ph)]
                if list(features.shape) != expected:
                    raise RuntimeError(f"features {list(features.shape)}, expected {expected}")
                write_atomic(line.output, features, metadata)
                written += 1
            except Exception as error:  # a per-line failure names the line
                failed += 1
                print(f"\n{line.where()}: failed: {error}", file=sys.stderr)
                if not args.skip_bad:
                    print(f"stopped; {written} files written this run (rerun resumes)", file=sys.stderr)
                    return 1
            progress.step()
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print(f"done: {written} written, {existing} already present, {len(bad)} bad lines skipped, "
          f"{failed} failed, {duplicates} duplicate lines", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

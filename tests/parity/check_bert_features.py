"""Self-test of scripts/compute_bert_features.py with tiny random BERTs built here (nothing downloaded).

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/check_bert_features.py [--keep]

Builds, under a temporary folder, three small models of the published kinds with hidden size 1024 (3 layers,
2 heads): a BERT with a WordPiece tokenizer for ZH, a character-tokenised DeBERTa-v2 (BertJapaneseTokenizer,
as deberta-v2-large-japanese-char-wwm) for JP, and a DeBERTa-v2 with a Unigram tokenizer for EN. It writes a
3-line filelist whose fields are consistent, runs the script, and checks every output against a direct
computation done the reference's way (masked-LM class for ZH/JP, bare model for EN, hidden_states[-3:-2],
token i repeated word2ph[i] times, transposed). Then the options and error paths: --no-add-blank, skipping
existing files, --overwrite, a wrong word2ph sum, a missing language model, a token-count mismatch,
--skip-bad, --check-only. Not part of CI (needs torch, transformers and safetensors).
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import transformers
from safetensors import safe_open
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "compute_bert_features.py"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# wav stem, language, text, phones, tones, word2ph (before blanks): consistent by construction.
LINES = [
    ("zh_0001", "ZH", "你好世界", "_ n i h ao sh ir j ie _", "0 3 3 3 3 4 4 4 4 0", "1 2 2 2 2 1"),
    ("jp_0001", "JP", "こんにちは", "_ k o N n i ch i w a _", "0 0 1 1 1 1 1 1 1 1 0", "1 2 1 2 2 2 1"),
    ("en_0001", "EN", "hello world.", "_ hh ah l ow w er l d . _", "0 0 0 2 2 2 2 2 2 0 0", "1 4 4 1 1"),
]


def small(config_class, vocab_size, **extra):
    return config_class(vocab_size=vocab_size, hidden_size=1024, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, **extra)


def build_models(base: Path):
    torch.manual_seed(0)
    dirs = {}

    # ZH: BERT + WordPiece over single characters.
    zh = base / "chinese-roberta-wwm-ext-large"
    vocab = {token: i for i, token in enumerate(SPECIALS + list("你好世界我们是中国人，。！？"))}
    tokenizer = transformers.BertTokenizer(vocab=vocab, do_lower_case=False)
    model = transformers.BertForMaskedLM(small(transformers.BertConfig, len(vocab)))
    model.save_pretrained(zh)
    tokenizer.save_pretrained(zh)
    dirs["ZH"] = zh

    deberta = dict(relative_attention=True, position_buckets=256, pos_att_type=["p2c", "c2p"],
                   max_relative_positions=-1, norm_rel_ebd="layer_norm", share_att_key=True,
                   position_biased_input=False, type_vocab_size=0, layer_norm_eps=1e-7)

    # JP: DeBERTa-v2 + BertJapaneseTokenizer with character subwords (the char-wwm model's tokenizer config).
    jp = base / "deberta-v2-large-japanese-char-wwm"
    jp.mkdir(parents=True, exist_ok=True)
    chars = SPECIALS + list("こんにちはありがとう世界、。！？")
    (jp / "vocab.txt").write_text("".join(c + "\n" for c in chars), encoding="utf-8")
    tokenizer = transformers.BertJapaneseTokenizer(
        vocab_file=str(jp / "vocab.txt"), do_lower_case=False, do_word_tokenize=True, word_tokenizer_type="basic",
        subword_tokenizer_type="character")
    model = transformers.DebertaV2ForMaskedLM(small(transformers.DebertaV2Config, len(chars), **deberta))
    model.save_pretrained(jp)
    tokenizer.save_pretrained(jp)
    dirs["JP"] = jp

    # EN: DeBERTa-v2 + Unigram (the v3 tokenizer's kind).
    en = base / "deberta-v3-large"
    pieces = [(t, 0.0) for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]]
    pieces += [(p, -2.0) for p in ["▁hello", "▁world", ".", ",", "▁"]]
    pieces += [(c, -8.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    tokenizer = transformers.DebertaV2Tokenizer(vocab=pieces, unk_id=1)
    model = transformers.DebertaV2Model(small(transformers.DebertaV2Config, len(pieces), **deberta))
    model.save_pretrained(en)
    tokenizer.save_pretrained(en)
    dirs["EN"] = en
    return dirs


def write_filelist(path: Path, wav_dir: Path, lines, word2ph_override=None):
    wav_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (stem, language, text, phones, tones, word2ph) in enumerate(lines):
        wav = wav_dir / f"{stem}.wav"
        wav.write_bytes(b"RIFF")  # only its existence matters to the script
        if word2ph_override and i in word2ph_override:
            word2ph = word2ph_override[i]
        rows.append(f"{wav}|spk|{language}|{text}|{phones}|{tones}|{word2ph}\n")
    path.write_text("".join(rows), encoding="utf-8")


def run(args, expect_rc):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    result = subprocess.run([sys.executable, str(SCRIPT), *args, "--device", "cpu"], capture_output=True, text=True,
                            env=env)
    print(f"$ compute_bert_features.py {' '.join(str(a) for a in args)}  -> rc {result.returncode}")
    for line in result.stderr.strip().splitlines():
        if "warn" in line.lower() and "compute_bert_features" not in line:
            continue
        print(f"    {line}")
    assert result.returncode == expect_rc, f"rc {result.returncode}, expected {expect_rc}\n{result.stderr}"
    return result.stderr


def reference_features(language, model_dir, text, word2ph):
    """The reference's get_bert_feature, written out: its model class, hidden_states[-3:-2], repetition."""
    if language == "EN":
        tokenizer = transformers.DebertaV2Tokenizer.from_pretrained(model_dir)
        model = transformers.DebertaV2Model.from_pretrained(model_dir, dtype=torch.float32)
    else:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
        model = transformers.AutoModelForMaskedLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        inputs = tokenizer(text, return_tensors="pt")
        states = torch.cat(model(**inputs, output_hidden_states=True)["hidden_states"][-3:-2], -1)[0]
    assert len(word2ph) == states.shape[0], (text, states.shape, word2ph)
    rows = [states[i].repeat(word2ph[i], 1) for i in range(len(word2ph))]
    return torch.cat(rows, dim=0).T


def blanked(word2ph, add_blank):
    counts = [int(c) for c in word2ph.split()]
    if add_blank:
        counts = [2 * c for c in counts]
        counts[0] += 1
    return counts


def outputs_of(wav_dir: Path):
    return sorted(p.name for p in wav_dir.glob("*.bert.safetensors"))


def check_outputs(wav_dir, dirs, add_blank):
    for stem, language, text, phones, _tones, word2ph in LINES:
        path = wav_dir / f"{stem}.bert.safetensors"
        counts = blanked(word2ph, add_blank)
        n = 2 * len(phones.split()) + 1 if add_blank else len(phones.split())
        assert sum(counts) == n
        tensors = load_file(str(path))
        assert list(tensors) == ["bert"], list(tensors)
        bert = tensors["bert"]
        assert bert.dtype == torch.float32 and list(bert.shape) == [1024, n] and bert.is_contiguous(), \
            (bert.dtype, bert.shape)
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata()
        assert metadata == {"language": language, "model": dirs[language].name}, metadata
        expected = reference_features(language, dirs[language], text, counts)
        diff = (bert - expected).abs().max().item()
        assert torch.allclose(bert, expected, rtol=0, atol=1e-5), f"{stem}: max |diff| {diff}"
        # Each column block is one token's state: a direct check of the repetition.
        starts = [0]
        for c in counts:
            starts.append(starts[-1] + c)
        for i, c in enumerate(counts):
            block = bert[:, starts[i]:starts[i + 1]]
            assert torch.equal(block, block[:, :1].expand(-1, c)), f"{stem}: token {i} block not constant"
        print(f"    {stem}: [1024, {n}] {language}, max |diff| vs direct {diff:.3g}, equal={torch.equal(bert, expected)}")


def main():
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    keep = "--keep" in sys.argv
    base = Path(tempfile.mkdtemp(prefix="chord_bert_features_"))
    dirs = build_models(base / "bert")
    bert_args = [a for lang, d in dirs.items() for a in ("--bert", f"{lang}={d}")]

    # 1. The three languages with blanks (the default).
    wavs = base / "wavs"
    train = base / "train.list"
    write_filelist(train, wavs, LINES)
    run(["--filelist", train, *bert_args], 0)
    check_outputs(wavs, dirs, add_blank=True)

    # 2. A rerun keeps the files; --overwrite rewrites them.
    mtimes = {p: p.stat().st_mtime_ns for p in wavs.glob("*.bert.safetensors")}
    err = run(["--filelist", train, *bert_args], 0)
    assert "0 written, 3 already present" in err, err
    assert mtimes == {p: p.stat().st_mtime_ns for p in wavs.glob("*.bert.safetensors")}
    err = run(["--filelist", train, *bert_args, "--overwrite"], 0)
    assert "3 written" in err, err
    assert not list(wavs.glob(".*.tmp")), "temporary files left behind"

    # 3. Without blanks: n = phones; the existing files have the wrong shape and are recomputed.
    err = run(["--filelist", train, *bert_args, "--no-add-blank"], 0)
    assert "3 written" in err, err
    check_outputs(wavs, dirs, add_blank=False)

    # 4. A wrong word2ph sum: reported with file:line, exit 2, nothing written.
    bad_dir = base / "bad_sum"
    bad = base / "bad_sum.list"
    write_filelist(bad, bad_dir, LINES, {1: "1 2 1 2 2 2 2"})
    err = run(["--filelist", bad, *bert_args], 2)
    assert f"{bad}:2: word2ph sums to 12 but there are 11 phones" in err, err
    assert outputs_of(bad_dir) == [], outputs_of(bad_dir)

    # 5. A language without a model: every such line reported, exit 2, nothing written.
    err = run(["--filelist", bad, "--filelist", train, "--bert", f"ZH={dirs['ZH']}", "--bert", f"JP={dirs['JP']}"], 2)
    assert f"{bad}:3: language EN but no --bert EN=DIR given" in err, err
    assert f"{train}:3: language EN but no --bert EN=DIR given" in err, err
    assert "no --bert directory for EN" in err, err
    assert outputs_of(bad_dir) == []

    # 6. word2ph with the right sum but one entry too many: the tokenizer check catches it.
    tok_dir = base / "bad_tokens"
    tok = base / "bad_tokens.list"
    write_filelist(tok, tok_dir, LINES, {0: "1 2 2 2 1 1 1"})
    err = run(["--filelist", tok, *bert_args], 2)
    assert f"{tok}:1: the ZH tokenizer gives 6 tokens" in err and "word2ph has 7 entries" in err, err
    assert f"{tok}:1: the text has 4 characters but word2ph has 7 entries" in err, err
    assert outputs_of(tok_dir) == []

    # 7. --check-only writes nothing; --skip-bad writes the good lines and counts the bad one.
    err = run(["--filelist", bad, *bert_args, "--skip-bad", "--check-only"], 0)
    assert "check only: 2 files to write" in err, err
    assert outputs_of(bad_dir) == []
    err = run(["--filelist", bad, *bert_args, "--skip-bad"], 0)
    assert "2 written" in err and "1 bad lines skipped" in err, err
    assert outputs_of(bad_dir) == ["en_0001.bert.safetensors", "zh_0001.bert.safetensors"], outputs_of(bad_dir)

    # 8. Missing inputs are refused up front.
    run(["--filelist", base / "missing.list", *bert_args], 2)
    run(["--filelist", train, "--bert", f"ZH={base / 'nowhere'}"], 2)

    print(f"OK: compute_bert_features.py matches the direct computation for ZH, JP, EN; error paths behave ({base})")
    if not keep:
        import shutil

        shutil.rmtree(base)


if __name__ == "__main__":
    main()

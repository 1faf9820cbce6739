"""Makes the parity fixture of chord's Bert-VITS2 data pipeline from fishaudio/Bert-VITS2 8f7fbd8
(`text/symbols.py`, `text/__init__.py::cleaned_text_to_sequence`, `data_utils.py`, `mel_processing.py`,
`commons.py`), run on CPU. Bert-VITS2 is not a pip package: pass the folder of a checkout (imported from
there, never copied).

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_bert_vits2_data_fixtures.py /tmp/bv2

Importing the checkout's `text` package downloads BERT models, so a stub `text` module is installed
holding the real `text/symbols.py` and the real `cleaned_text_to_sequence` (its source is read from
`text/__init__.py` and executed alone). `config` is stubbed with `train_ms_config.spec_cache = False`.
librosa >= 0.10 made `filters.mel` keyword-only; mel_processing calls it positionally, so its
`librosa_mel_fn` is wrapped to pass the same arguments by keyword.

Writes tests/fixtures/bert_vits2_data.safetensors:
  symbols.utf8            the symbol table joined by "\\n" (uint8); tone_start [ZH, JP, EN]; num_tones;
                          language_ids; sil_ids
  shuffle.n{N}            `random.seed(1234); random.shuffle(list(range(N)))` for N in 1, 2, 7, 100, 1000
  filelist.utf8           a filelist of 8 cleaned lines (uint8); wav{i}.samples int16 and wav{i}.bytes
                          (file size as scipy writes it) for each line's WAV (44.1 kHz mono)
  loader.order            TextAudioSpeakerLoader(min_text_len 3, max_text_len 30, add_blank, spk2id
                          {spkA: 3, spkB: 7}): line index of each kept item, in the loader's order;
                          loader.lengths (getsize // 1024); loader.skipped
  item{k}.*               dataset[index] after torch.manual_seed(100 + k) for k = 0, 1, 2 (one item per
                          language): index, phones, tone, language, sid, bert_ori (the .bert.pt it loaded,
                          which fills the language's slot) and the two other slots (random) among bert,
                          ja_bert, en_bert; wav and spec are checked through the collate
  collate.*               TextAudioSpeakerCollate()([item0, item1, item2]): the 12 tensors except the three
                          BERT streams (checked against item*.bert* in sorted order) under their reference
                          names, plus collate.order (the sort permutation)
  mel.wave / mel.spec / mel.mel / mel.mel_from_spec
                          spectrogram_torch, mel_spectrogram_torch and spec_to_mel_torch of item 2's
                          waveform at the 2.3 config (44.1 kHz, 2048/512/2048, 128 mels, fmin 0, fmax None)
  mel22.*                 the same at VITS-1 sizes with fmin/fmax set (22.05 kHz, 1024/256/1024, 80 mels,
                          fmin 20, fmax 8000) on a random waveform
  bertpt.bytes / .tensor   the bytes of torch.save(x) for a transposed [4, 3] view x, and x (the reference's
                          .bert.pt format, which chord also reads)
  sampler.{case}.*        DistributedBucketSampler batches (flattened, batch size fixed) per epoch, rank and
                          world size, with the boundaries left after empty buckets were removed and len()
"""
import ast
import io
import os
import random
import shutil
import sys
import tempfile
import types

import numpy as np
import torch
from safetensors.torch import save_file
from scipy.io import wavfile

from bert_vits2_reference import OUT, check_versions

FILELIST = [
    # wav|speaker|language|text|phones|tones|word2ph (as preprocess_text.py writes them)
    "a0.wav|spkA|ZH|你好|_ n i h ao _|0 3 3 3 3 0|1 2 2 1",
    "a1.wav|spkB|EN|hi.|_ hh ay . _|0 2 2 0 0|1 2 1 1",
    "a2.wav|spkA|JP|こん…|_ k o N … _|0 0 1 1 0 0|1 2 1 1 1",
    "a3.wav|spkB|ZH|啊|_ a _|0 1 0|1 1 1",
    "a4.wav|spkA|EN|.|_|0|1",  # phone field of 1 character < min_text_len 3: dropped
    "a5.wav|spkB|ZH|中中中中中|_ zh ong zh ong zh ong zh ong zh ong _|0 1 1 1 1 1 1 1 1 1 1 0|1 2 2 2 2 2 1",  # 37 > 30
    "a6.wav|spkA|EN|ok|_ ow k ey _|0 2 0 2 0|1 3 1",
    # 29 code points but 55 UTF-8 bytes: kept by the reference's character count
    "a7.wav|spkB|ZH|……|_" + " …" * 13 + " _|" + " ".join(["0"] * 15) + "|1 13 1",
]
SAMPLES = [4000, 3584, 5000, 2600, 3000, 6000, 4500, 2100]  # a0 and a1 both give 7 frames (a tie)
SPEAKERS = {"spkA": 3, "spkB": 7}


def load_reference(checkout):
    checkout = os.path.abspath(checkout)
    sys.path.insert(0, checkout)
    symbols = types.ModuleType("text.symbols")
    with open(os.path.join(checkout, "text", "symbols.py"), encoding="utf-8") as f:
        exec(compile(f.read(), "text/symbols.py", "exec"), symbols.__dict__)
    text = types.ModuleType("text")
    text.__dict__.update({k: v for k, v in symbols.__dict__.items() if not k.startswith("__")})
    with open(os.path.join(checkout, "text", "__init__.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    # only `_symbol_to_id = ...` and `def cleaned_text_to_sequence`, nothing that downloads models
    keep = [n for n in tree.body if (isinstance(n, ast.FunctionDef) and n.name == "cleaned_text_to_sequence")
            or (isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "_symbol_to_id" for t in n.targets))]
    exec(compile(ast.Module(body=keep, type_ignores=[]), "text/__init__.py", "exec"), text.__dict__)
    sys.modules["text"] = text
    sys.modules["text.symbols"] = symbols
    config = types.ModuleType("config")
    config.config = types.SimpleNamespace(train_ms_config=types.SimpleNamespace(spec_cache=False))
    sys.modules["config"] = config

    import librosa
    import mel_processing

    mel_processing.librosa_mel_fn = lambda sr, n_fft, n_mels, fmin, fmax: librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    import data_utils
    from tools.log import logger
    logger.remove()  # the loader logs to stdout
    return text, symbols, data_utils, mel_processing


def utf8(s):
    return torch.tensor(list(s.encode("utf-8")), dtype=torch.uint8)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    check_versions()
    text, symbols, data_utils, mel_processing = load_reference(sys.argv[1])
    out = {}

    out["symbols.utf8"] = utf8("\n".join(symbols.symbols))
    out["tone_start"] = torch.tensor([symbols.language_tone_start_map[k] for k in ("ZH", "JP", "EN")])
    out["num_tones"] = torch.tensor([symbols.num_tones])
    out["language_ids"] = torch.tensor([symbols.language_id_map[k] for k in ("ZH", "JP", "EN")])
    out["sil_ids"] = torch.tensor(symbols.sil_phonemes_ids)

    for n in (1, 2, 7, 100, 1000):
        random.seed(1234)
        order = list(range(n))
        random.shuffle(order)
        out[f"shuffle.n{n}"] = torch.tensor(order)

    # dataset on disk
    gen = torch.Generator().manual_seed(20261130)
    work = tempfile.mkdtemp()
    cwd = os.getcwd()
    os.chdir(work)  # the reference opens the filelist's wav paths relative to the working directory
    try:
        text_file = "\n".join(FILELIST) + "\n"
        with open("train.list", "w", encoding="utf-8") as f:
            f.write(text_file)
        out["filelist.utf8"] = utf8(text_file)
        for i, n in enumerate(SAMPLES):
            samples = (torch.randn(n, generator=gen) * 6000).clamp(-32768, 32767).to(torch.int16)
            wavfile.write(f"a{i}.wav", 44100, samples.numpy())
            out[f"wav{i}.samples"] = samples
            out[f"wav{i}.bytes"] = torch.tensor([os.path.getsize(f"a{i}.wav")])

        hps = types.SimpleNamespace(max_wav_value=32768.0, sampling_rate=44100, filter_length=2048,
                                    hop_length=512, win_length=2048, n_mel_channels=128, mel_fmin=0.0,
                                    mel_fmax=None, add_blank=True, cleaned_text=True, spk2id=SPEAKERS,
                                    min_text_len=3, max_text_len=30)
        dataset = data_utils.TextAudioSpeakerLoader("train.list", hps)
        names = [row[0] for row in dataset.audiopaths_sid_text]
        out["loader.order"] = torch.tensor([int(name[1:-4]) for name in names])
        out["loader.lengths"] = torch.tensor(dataset.lengths)
        out["loader.skipped"] = torch.tensor([len(FILELIST) - len(names)])

        items = []
        for k, line in enumerate((0, 1, 2)):  # ZH, EN, JP
            index = names.index(f"a{line}.wav")
            n = 2 * len(FILELIST[line].split("|")[4].split(" ")) + 1
            bert_ori = torch.randn(1024, n, generator=gen)
            torch.save(bert_ori, f"a{line}.bert.pt")
            torch.manual_seed(100 + k)
            item = dataset[index]
            phones, spec, wav, sid, tone, language, bert, ja_bert, en_bert = item
            items.append(item)
            p = f"item{k}."
            out[p + "index"] = torch.tensor([index])
            out[p + "bert_ori"] = bert_ori
            active = {"ZH": "bert", "JP": "ja_bert", "EN": "en_bert"}[FILELIST[line].split("|")[2]]
            for name, t in (("phones", phones), ("tone", tone), ("language", language), ("sid", sid),
                            ("bert", bert), ("ja_bert", ja_bert), ("en_bert", en_bert)):
                if name == active:  # the loaded features themselves: stored once, as bert_ori
                    assert torch.equal(t, bert_ori)
                    continue
                out[p + name] = t.contiguous()
        collate = data_utils.TextAudioSpeakerCollate()
        result = collate(items)
        names12 = ["text_padded", "text_lengths", "spec_padded", "spec_lengths", "wav_padded", "wav_lengths",
                   "sid", "tone_padded", "language_padded", "bert_padded", "ja_bert_padded", "en_bert_padded"]
        for name, t in zip(names12, result):
            if "bert" not in name:
                out["collate." + name] = t
        out["collate.order"] = torch.sort(torch.LongTensor([x[1].size(1) for x in items]), dim=0,
                                          descending=True)[1]
        for k in range(3):  # the bert streams must land in the sorted rows
            row = int((out["collate.order"] == k).nonzero()[0, 0])
            n = items[k][0].numel()
            for slot, name in ((6, "bert_padded"), (7, "ja_bert_padded"), (8, "en_bert_padded")):
                got = result[names12.index(name)]
                assert torch.equal(got[row, :, :n], items[k][slot]) and not got[row, :, n:].any()
    finally:
        os.chdir(cwd)
        shutil.rmtree(work)

    wave = items[2][2]  # [1, L]
    out["mel.wave"] = wave
    out["mel.spec"] = mel_processing.spectrogram_torch(wave, 2048, 44100, 512, 2048, center=False)
    out["mel.mel"] = mel_processing.mel_spectrogram_torch(wave, 2048, 128, 44100, 512, 2048, 0.0, None)
    out["mel.mel_from_spec"] = mel_processing.spec_to_mel_torch(out["mel.spec"], 2048, 128, 44100, 0.0, None)
    wave22 = (0.3 * torch.randn(2, 3000, generator=gen)).clamp(-1, 1)
    out["mel22.wave"] = wave22
    out["mel22.mel"] = mel_processing.mel_spectrogram_torch(wave22, 1024, 80, 22050, 256, 1024, 20.0, 8000.0)

    # a .bert.pt as bert_gen.py writes it: torch.save of a transposed (non-contiguous) [D, n] view
    bert_view = torch.randn(3, 4, generator=gen).T
    buffer = io.BytesIO()
    torch.save(bert_view, buffer)
    out["bertpt.bytes"] = torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)
    out["bertpt.tensor"] = bert_view.contiguous()

    # DistributedBucketSampler
    class Lengths:
        def __init__(self, lengths):
            self.lengths = lengths

        def __len__(self):
            return len(self.lengths)

    train_boundaries = [32, 300, 400, 500, 600, 700, 800, 900, 1000]
    lengths = torch.randint(0, 1100, (150,), generator=gen).tolist()
    # no item in (32, 300]: the first bucket is empty (the reference's except path)
    no_first = [x for x in lengths if not 32 < x <= 300]
    # nothing in (500, 700]: two empty middle buckets
    no_middle = [x for x in lengths if not 500 < x <= 700]
    cases = {
        "base": (lengths, 4, [(1, 0), (3, 0), (3, 1), (3, 2)], True, (1, 2, 3)),
        "noshuffle": (lengths, 3, [(2, 0), (2, 1)], False, (1,)),
        "nofirst": (no_first, 2, [(1, 0), (2, 0), (2, 1)], True, (1, 7)),
        "nomiddle": (no_middle, 5, [(1, 0), (4, 3)], True, (2,)),
    }
    for case, (lens, bs, worlds, shuffle, epochs) in cases.items():
        out[f"sampler.{case}.lengths"] = torch.tensor(lens)
        for world, rank in worlds:
            sampler = data_utils.DistributedBucketSampler(Lengths(lens), bs, list(train_boundaries),
                                                          num_replicas=world, rank=rank, shuffle=shuffle)
            p = f"sampler.{case}.w{world}r{rank}."
            out[p + "boundaries"] = torch.tensor(sampler.boundaries)
            out[p + "len"] = torch.tensor([len(sampler)])
            for epoch in epochs:
                sampler.set_epoch(epoch)
                batches = list(iter(sampler))
                out[p + f"e{epoch}"] = torch.tensor(batches).reshape(-1)

    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "bert_vits2_data.safetensors")
    save_file({k: v.contiguous() for k, v in out.items()}, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(out)} tensors)")


if __name__ == "__main__":
    main()

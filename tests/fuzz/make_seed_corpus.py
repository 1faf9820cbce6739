"""Writes the fuzzers' seed corpora (tests/fuzz/corpus/<target>/): small valid inputs of every parser,
plus a few near-misses, so libFuzzer starts from the formats' structure. Deterministic but for the order
of safetensors metadata keys (the Rust writer's hash map) and the serialisation id torch.save records;
run with the set-up venv (numpy, safetensors, torch; soundfile for the FLAC seeds, e.g. the reference venv):

    ~/.cache/chord/torch-2.11.0/bin/python tests/fuzz/make_seed_corpus.py
"""
import io
import json
import os
import struct

import numpy as np
from safetensors.numpy import save

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def wav(samples, rate=24000, channels=1, bits=16, fmt=1):
    """A RIFF/WAVE file by hand: PCM (fmt 1) or IEEE float (fmt 3)."""
    if fmt == 3:
        body = np.asarray(samples, dtype="<f4").tobytes()
    else:
        body = (np.asarray(samples) * 32767).astype("<i2").tobytes()
    block = channels * bits // 8
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(body), b"WAVE", b"fmt ", 16, fmt, channels, rate,
                         rate * block, block, bits, b"data", len(body))
    return header + body


def main():
    rng = np.random.default_rng(0)
    # safetensors: dtypes, shapes (scalar, empty, 3-D), metadata
    put("safetensors", "small", save({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], dtype=np.int64)},
                                     metadata={"format": "pt"}))
    put("safetensors", "dtypes", save({"h": np.ones(3, np.float16), "d": np.zeros(2, np.float64), "u": np.arange(4, dtype=np.uint8),
                                       "i": np.array([-1], np.int32), "bool": np.array([True, False])}))
    put("safetensors", "shapes", save({"scalar": np.array(3.0, np.float32), "empty": np.zeros((0, 4), np.float32),
                                       "cube": rng.standard_normal((2, 2, 2)).astype(np.float32)}))
    put("safetensors", "empty_file", save({}))
    # checkpoint metadata: an F5-TTS export's flags
    flags = {"text_mask_padding": "1", "pe_attn_head": "all", "attn_mask_enabled": "0", "text_embedding_average_upsampling": "0",
             "preset": "tiny", "objective": "cfm", "step": "10"}
    put("checkpoint", "flags", save({"ema_model.transformer.proj_out.weight": np.zeros((2, 2), np.float32)}, metadata=flags))
    put("checkpoint", "head1", save({"w": np.zeros(1, np.float32)}, metadata=dict(flags, pe_attn_head="1", attn_mask_enabled="1")))
    # audio
    tone = np.sin(np.arange(480) * 0.1) * 0.5
    put("audio", "pcm16_mono.wav", wav(tone))
    put("audio", "float_stereo.wav", wav(np.stack([tone, -tone], 1).reshape(-1), rate=44100, channels=2, bits=32, fmt=3))
    put("audio", "pcm16_8k.wav", wav(tone[:80], rate=8000))
    put("audio", "empty.wav", wav([]))
    try:  # FLAC needs an encoder: libsndfile's, through soundfile where the venv has it
        import soundfile
        buffer = io.BytesIO()
        soundfile.write(buffer, tone.astype(np.float32), 24000, format="FLAC", subtype="PCM_16")
        put("audio", "pcm16_mono.flac", buffer.getvalue())
        put("audio", "truncated.flac", buffer.getvalue()[: len(buffer.getvalue()) // 2])
    except ImportError:
        print("soundfile is not installed: the FLAC seeds are left as they are")
    # manifests
    put("manifest", "two_lines.jsonl", json.dumps({"audio": "wavs/a.wav", "text": "hello", "speaker": "s1", "duration": 1.5}) + "\n" +
        json.dumps({"audio": "/abs/b.wav", "text": "wörld ✓", "language": "en"}) + "\n")
    put("manifest", "blank_lines.jsonl", "\n" + json.dumps({"audio": "c.wav", "text": ""}) + "\n\n")
    # F5 vocab: one token per line, a space token, multi-character pinyin tokens
    put("vocab", "vocab.txt", " \na\nb\nni3\nhao3\n，\n😀\n")
    # Unigram tokenizer.json (the layout of t5-base's)
    vocab = [["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ["▁", -2.0], ["▁hello", -5.5], ["l", -6.0], ["o", -6.1], ["▁w", -7.0]]
    put("tokenizer", "tokenizer.json", json.dumps({"model": {"type": "Unigram", "unk_id": 2, "vocab": vocab},
                                                   "added_tokens": [{"id": 8, "content": "<extra_id_0>"}]}))
    # Bert-VITS2 filelists: wav|speaker|language|text|phones|tones|word2ph
    put("filelist", "train.list", "wavs/a.wav|alice|EN|hello world|_ HH AH0 L OW1 W ER1 L D _|0 3 1 3 2 3 2 3 3 0|1 4 4 1\n"
        "wavs/b.wav|bob|ZH|你好|_ n i h ao _|0 3 3 3 3 0|1 2 2 1\n")
    put("filelist", "crlf.list", "x.wav|s|JP|こ|_ k o _|0 1 1 0|1 2 1\r\n")
    # UTF-8 text: multi-byte, combining marks, an invalid byte, a long run
    put("utf8", "mixed", "Hello, 世界! Ça va? e\u0301 😀 — \"quoted\".")
    put("utf8", "invalid", b"ok \xff\xfe \xc3 tail")
    put("utf8", "long", "word " * 60)
    # Bert-VITS2 config.json (tiny sizes; keys as the reference's)
    config = {"train": {"log_interval": 10, "eval_interval": 100, "seed": 42, "epochs": 1, "learning_rate": 0.0002,
                        "betas": [0.8, 0.99], "eps": 1e-09, "batch_size": 2, "bf16_run": False, "lr_decay": 0.99995,
                        "segment_size": 16384, "c_mel": 45, "c_kl": 1.0, "freeze_ZH_bert": False},
              "data": {"training_files": "train.list", "validation_files": "val.list", "max_wav_value": 32768.0,
                       "sampling_rate": 44100, "filter_length": 2048, "hop_length": 512, "win_length": 2048,
                       "n_mel_channels": 128, "mel_fmin": 0.0, "mel_fmax": None, "add_blank": True, "n_speakers": 2,
                       "cleaned_text": True, "spk2id": {"alice": 0, "bob": 1}},
              "model": {"use_spk_conditioned_encoder": True, "use_noise_scaled_mas": True, "use_mel_posterior_encoder": False,
                        "use_duration_discriminator": True, "inter_channels": 192, "hidden_channels": 192,
                        "filter_channels": 768, "n_heads": 2, "n_layers": 6, "kernel_size": 3, "p_dropout": 0.1,
                        "resblock": "1", "resblock_kernel_sizes": [3, 7, 11],
                        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "upsample_rates": [8, 8, 2, 2, 2],
                        "upsample_initial_channel": 512, "upsample_kernel_sizes": [16, 16, 8, 2, 2], "n_layers_q": 3,
                        "use_spectral_norm": False, "gin_channels": 512}}
    put("vits_config", "config.json", json.dumps(config, indent=1))
    put("vits_config", "minimal.json", json.dumps({"train": {}, "data": {}, "model": {}}))
    # BERT features as bert_gen.py writes them: torch.save of one float tensor [dim, n] (the target reads
    # dim 8, n 4), and near-misses (another shape, an integer tensor, a container, a legacy pickle)
    try:
        import torch
        def saved(value, **kwargs):
            buffer = io.BytesIO()
            torch.save(value, buffer, **kwargs)
            return buffer.getvalue()
        generator = torch.Generator().manual_seed(0)
        put("bert_features", "float_8x4.bert.pt", saved(torch.randn(8, 4, generator=generator)))
        put("bert_features", "other_shape.bert.pt", saved(torch.randn(8, 3, generator=generator)))
        put("bert_features", "int64.bert.pt", saved(torch.arange(32).reshape(8, 4)))
        put("bert_features", "dict.bert.pt", saved({"bert": torch.zeros(8, 4)}))
        put("bert_features", "legacy.bert.pt", saved(torch.zeros(8, 4), _use_new_zipfile_serialization=False))
    except ImportError:
        print("torch is not installed: the bert_features seeds are left as they are")
    # The other JSON configs: stable-audio-tools model_config.json (a small DiT), its "config" object,
    # Hugging Face T5 and WavLM config.json, the trainers' --config files
    dit = {"io_channels": 8, "embed_dim": 32, "depth": 1, "num_heads": 2, "cond_token_dim": 16, "global_cond_dim": 8,
           "project_cond_tokens": False, "transformer_type": "continuous_transformer", "attn_kwargs": {"qk_norm": "ln"},
           "ff_kwargs": {"mult": 2}}
    put("model_config", "stable_audio.json", json.dumps({"model_type": "diffusion_cond", "sample_rate": 44100, "model": {
        "diffusion": {"type": "dit", "diffusion_objective": "rectified_flow", "cross_attention_cond_ids": ["prompt"],
                      "config": dit}}}))
    put("model_config", "dit_config.json", json.dumps(dit))
    put("model_config", "t5_config.json", json.dumps({"d_model": 16, "d_kv": 4, "d_ff": 32, "num_layers": 1, "num_heads": 2,
                                                      "vocab_size": 40, "relative_attention_num_buckets": 8,
                                                      "relative_attention_max_distance": 16, "feed_forward_proj": "relu",
                                                      "layer_norm_epsilon": 1e-6}))
    put("model_config", "wavlm_config.json", json.dumps({"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                                                         "intermediate_size": 32, "conv_dim": [8, 8], "conv_kernel": [10, 3],
                                                         "conv_stride": [5, 2], "feat_extract_norm": "group",
                                                         "num_buckets": 8, "max_bucket_distance": 16}))
    put("model_config", "sr_trainer.json", json.dumps({"manifest": "train.jsonl", "preset": "tiny", "steps": 10, "batch_size": 2}))
    put("model_config", "tts_trainer.json", json.dumps({"manifest": "train.jsonl", "preset": "tiny", "steps": 10, "lr": 0.001}))


if __name__ == "__main__":
    main()

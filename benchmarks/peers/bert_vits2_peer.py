"""Side-by-side peer of benchmarks/bench_bert_vits2.cpp: the same cases through fishaudio/Bert-VITS2 8f7fbd8's
own classes (a checkout passed as --checkout; imported with tests/parity/bert_vits2_reference.py's loader),
random weights, CPU, fp32, no autocast.

Training step, batch 2: train_ms.py's iteration in its order — net_g forward, target and generated mels,
the real segment; MPD scores on the detached output; the duration discriminator's step (two calls, list
concatenation, zero_grad / backward / grad-norm logging / step); the MPD step; the WavLM discriminator's step;
then the generator's terms (MPD again with gradients, duration discriminator, mel L1 × 45, Σ l_length, KL,
feature matching, LSGAN, WavLM feature L1 and LSGAN, duration LSGAN) and its step. Every optimiser is
AdamW(2e-4, (0.8, 0.99), 1e-9); the `commons.clip_grad_value_(params, None)` grad-norm logging is kept (it
is in the loop as shipped). Single process: no DDP, no GradScaler (bf16_run false makes it a pass-through).
The WavLM is `transformers.WavLMModel(WavLMConfig(<wavlm-base-plus values>))` with random weights
(AutoModel.from_pretrained is replaced: no network), the duration discriminator (hidden, hidden, 3, 0.1, gin).
  tiny: chord's SynthesizerOptions::tiny() sizes (22.05 kHz, n_fft 1024, hop 256, 80 mels), 2 × 40 phones /
        64 frames; the reference hard-codes the posterior encoder's 16 layers and the DP's filter 256, which
        the chord side sets too.
  v2_3: config 2.3 with 4 speakers, 2 × 48 phones / 96 frames, segment 32 frames.
Inference: `infer` of one 40-phone utterance at v2_3, sdp_ratio 0.5, under inference_mode; dp.proj zeroed
and noise_scale_w 0, length_scale 2.9, so every phone lasts 3 frames (120 frames) on both sides.

    ~/.cache/chord/reference-torch-2.11.0/bin/python benchmarks/peers/bert_vits2_peer.py --checkout /tmp/bv2
"""
import argparse
import math
import os
import re
import sys
import types

import torch

from harness import timed

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "parity"))
from bert_vits2_reference import load  # noqa: E402

BASE_PLUS = dict(  # microsoft/wavlm-base-plus's config.json (reference/vits2.md §2.4)
    hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, hidden_act="gelu",
    feat_extract_norm="group", feat_extract_activation="gelu", do_stable_layer_norm=False, conv_dim=(512,) * 7,
    conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_bias=False,
    num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16, num_buckets=320, max_bucket_distance=800,
    layer_norm_eps=1e-5, mask_time_prob=0.05)

V2_3 = dict(
    data=dict(sampling_rate=44100, filter_length=2048, hop_length=512, win_length=2048, n_mel_channels=128, mel_fmin=0.0,
              mel_fmax=None),
    model=dict(inter_channels=192, hidden_channels=192, filter_channels=768, n_heads=2, n_layers=6, kernel_size=3,
               p_dropout=0.1, resblock="1", resblock_kernel_sizes=[3, 7, 11], resblock_dilation_sizes=[[1, 3, 5]] * 3,
               upsample_rates=[8, 8, 2, 2, 2], upsample_initial_channel=512, upsample_kernel_sizes=[16, 16, 8, 2, 2],
               gin_channels=512),
    phones=48, frames=96)
TINY = dict(  # chord's SynthesizerOptions::tiny()
    data=dict(sampling_rate=22050, filter_length=1024, hop_length=256, win_length=1024, n_mel_channels=80, mel_fmin=0.0,
              mel_fmax=None),
    model=dict(inter_channels=64, hidden_channels=64, filter_channels=128, n_heads=2, n_layers=3, kernel_size=3,
               p_dropout=0.1, resblock="2", resblock_kernel_sizes=[3, 7], resblock_dilation_sizes=[[1, 3], [1, 3]],
               upsample_rates=[8, 8, 2, 2], upsample_initial_channel=128, upsample_kernel_sizes=[16, 16, 4, 4],
               gin_channels=32, n_flow_layer=2, n_layers_trans_flow=3),
    phones=40, frames=64)
SEGMENT_FRAMES, N_SPEAKERS, BATCH = 32, 4, 2

ref = types.SimpleNamespace()


def import_reference(checkout):
    load(checkout)
    import transformers
    import commons
    import losses
    import mel_processing
    import models

    import librosa

    # librosa >= 0.10 made filters.mel keyword-only; mel_processing calls it positionally.
    mel_processing.librosa_mel_fn = lambda sr, n_fft, n_mels, fmin, fmax: librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    losses.AutoModel = types.SimpleNamespace(
        from_pretrained=lambda name: transformers.WavLMModel(transformers.WavLMConfig(**BASE_PLUS)))
    ref.commons, ref.losses, ref.mel, ref.models = commons, losses, mel_processing, models


def build_generator(preset):
    d = preset["data"]
    return ref.models.SynthesizerTrn(112, d["filter_length"] // 2 + 1, SEGMENT_FRAMES, n_speakers=N_SPEAKERS,
                                     use_noise_scaled_mas=True, mas_noise_scale_initial=0.01, noise_scale_delta=2e-6,
                                     **preset["model"])


def make_batch(preset, items, g):
    d, phones, frames = preset["data"], preset["phones"], preset["frames"]
    hop = d["hop_length"]
    text = torch.randint(1, 112, (items, phones), generator=g)
    tone = torch.randint(0, 12, (items, phones), generator=g)
    language = torch.randint(0, 3, (items, phones), generator=g)
    bert, ja_bert, en_bert = (0.1 * torch.randn(items, 1024, phones, generator=g) for _ in range(3))
    t = torch.arange(frames * hop) / d["sampling_rate"]
    wav = 0.3 * torch.sin(2 * math.pi * 220.0 * t) + 0.05 * torch.randn(items, 1, frames * hop, generator=g)
    spec = ref.mel.spectrogram_torch(wav.squeeze(1), d["filter_length"], d["sampling_rate"], hop, d["win_length"],
                                     center=False)
    assert spec.shape[2] == frames, spec.shape
    return dict(x=text, x_lengths=torch.full((items,), phones), spec=spec, spec_lengths=torch.full((items,), frames),
                y=wav, sid=torch.arange(items) % N_SPEAKERS, tone=tone, language=language, bert=bert, ja_bert=ja_bert,
                en_bert=en_bert)


def adamw(params):
    return torch.optim.AdamW(params, 2e-4, betas=(0.8, 0.99), eps=1e-9)


def train_step(preset_name, min_time):
    preset = TINY if preset_name == "tiny" else V2_3
    d, m = preset["data"], preset["model"]
    ref.mel.mel_basis.clear()  # mel_processing caches the filterbank by fmax, dtype and device only, not n_fft
    torch.manual_seed(0)
    net_g = build_generator(preset)
    net_d = ref.models.MultiPeriodDiscriminator(False)
    net_dur_disc = ref.models.DurationDiscriminator(m["hidden_channels"], m["hidden_channels"], 3, 0.1,
                                                    gin_channels=m["gin_channels"])
    net_wd = ref.models.WavLMDiscriminator(768, 13, 64)
    wl = ref.losses.WavLMLoss("wavlm-base-plus", net_wd, d["sampling_rate"], 16000)
    optim_g = adamw(filter(lambda p: p.requires_grad, net_g.parameters()))
    optim_d, optim_dur_disc, optim_wd = adamw(net_d.parameters()), adamw(net_dur_disc.parameters()), adamw(net_wd.parameters())
    for net in (net_g, net_d, net_wd, net_dur_disc):
        net.train()
    b = make_batch(preset, BATCH, torch.Generator().manual_seed(1))
    commons, losses, mel = ref.commons, ref.losses, ref.mel
    hop, segment_size = d["hop_length"], SEGMENT_FRAMES * d["hop_length"]
    state = dict(global_step=0)

    def step():
        net_g.current_mas_noise_scale = max(net_g.mas_noise_scale_initial - net_g.noise_scale_delta * state["global_step"], 0.0)
        (y_hat, l_length, attn, ids_slice, x_mask, z_mask, (z, z_p, m_p, logs_p, m_q, logs_q),
         (hidden_x, logw, logw_, logw_sdp), g) = net_g(b["x"], b["x_lengths"], b["spec"], b["spec_lengths"], b["sid"],
                                                       b["tone"], b["language"], b["bert"], b["ja_bert"], b["en_bert"])
        spec_mel = mel.spec_to_mel_torch(b["spec"], d["filter_length"], d["n_mel_channels"], d["sampling_rate"],
                                         d["mel_fmin"], d["mel_fmax"])
        y_mel = commons.slice_segments(spec_mel, ids_slice, SEGMENT_FRAMES)
        y_hat_mel = mel.mel_spectrogram_torch(y_hat.squeeze(1).float(), d["filter_length"], d["n_mel_channels"],
                                              d["sampling_rate"], hop, d["win_length"], d["mel_fmin"], d["mel_fmax"])
        y = commons.slice_segments(b["y"], ids_slice * hop, segment_size)

        y_d_hat_r, y_d_hat_g, _, _ = net_d(y, y_hat.detach())
        loss_disc, _, _ = losses.discriminator_loss(y_d_hat_r, y_d_hat_g)
        y_dur_hat_r, y_dur_hat_g = net_dur_disc(hidden_x.detach(), x_mask.detach(), logw_.detach(), logw.detach(), g.detach())
        y_dur_hat_r_sdp, y_dur_hat_g_sdp = net_dur_disc(hidden_x.detach(), x_mask.detach(), logw_.detach(),
                                                        logw_sdp.detach(), g.detach())
        loss_dur_disc, _, _ = losses.discriminator_loss(y_dur_hat_r + y_dur_hat_r_sdp, y_dur_hat_g + y_dur_hat_g_sdp)
        optim_dur_disc.zero_grad()
        loss_dur_disc.backward()
        commons.clip_grad_value_(net_dur_disc.parameters(), None)
        optim_dur_disc.step()

        optim_d.zero_grad()
        loss_disc.backward()
        commons.clip_grad_value_(net_d.parameters(), None)
        optim_d.step()

        loss_slm = wl.discriminator(y.detach().squeeze(), y_hat.detach().squeeze()).mean()
        optim_wd.zero_grad()
        loss_slm.backward()
        commons.clip_grad_value_(net_wd.parameters(), None)
        optim_wd.step()

        y_d_hat_r, y_d_hat_g, fmap_r, fmap_g = net_d(y, y_hat)
        _, y_dur_hat_g = net_dur_disc(hidden_x, x_mask, logw_, logw, g)
        _, y_dur_hat_g_sdp = net_dur_disc(hidden_x, x_mask, logw_, logw_sdp, g)
        y_dur_hat_g = y_dur_hat_g + y_dur_hat_g_sdp
        loss_dur = torch.sum(l_length.float())
        loss_mel = torch.nn.functional.l1_loss(y_mel, y_hat_mel) * 45
        loss_kl = losses.kl_loss(z_p, logs_q, m_p, logs_p, z_mask) * 1.0
        loss_fm = losses.feature_loss(fmap_r, fmap_g)
        loss_gen, _ = losses.generator_loss(y_d_hat_g)
        loss_lm = wl(y.detach().squeeze(), y_hat.squeeze()).mean()
        loss_lm_gen = wl.generator(y_hat.squeeze())
        loss_gen_all = loss_gen + loss_fm + loss_mel + loss_dur + loss_kl + loss_lm + loss_lm_gen
        loss_dur_gen, _ = losses.generator_loss(y_dur_hat_g)
        loss_gen_all += loss_dur_gen
        optim_g.zero_grad()
        loss_gen_all.backward()
        commons.clip_grad_value_(net_g.parameters(), None)
        optim_g.step()
        state["global_step"] += 1

    return timed(step, min_time)


def infer(min_time):
    torch.manual_seed(0)
    net_g = build_generator(V2_3).eval()
    with torch.no_grad():
        net_g.dp.proj.weight.zero_()  # log-durations 0: the same length on both sides
        net_g.dp.proj.bias.zero_()
    b = make_batch(dict(V2_3, phones=40), 1, torch.Generator().manual_seed(1))

    def run():
        with torch.inference_mode():
            return net_g.infer(b["x"], b["x_lengths"], b["sid"], b["tone"], b["language"], b["bert"], b["ja_bert"],
                               b["en_bert"], noise_scale=0.667, length_scale=2.9, noise_scale_w=0.0, sdp_ratio=0.5)

    frames = run()[0].shape[2] // V2_3["data"]["hop_length"]
    if frames != 120:
        raise SystemExit(f"infer: expected 120 frames, got {frames}")
    seconds, runs = timed(run, min_time)
    return seconds, runs


CASES = {
    "BM_BertVits2_TrainStep/tiny": lambda m: train_step("tiny", m),
    "BM_BertVits2_TrainStep/v2_3": lambda m: train_step("v2_3", m),
    "BM_BertVits2_Infer/v2_3": infer,
}
AUDIO_SECONDS = {"BM_BertVits2_Infer/v2_3": 120 * 512 / 44100}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkout", required=True, help="a fishaudio/Bert-VITS2 checkout (e.g. /tmp/bv2)")
    parser.add_argument("--filter", default=".*")
    parser.add_argument("--min-time", type=float, default=2.0)
    args = parser.parse_args()
    import_reference(args.checkout)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, run in CASES.items():
        if re.search(args.filter, name):
            seconds, runs = run(args.min_time)
            print(f"{name:32s} {seconds * 1e3:12.1f} ms  ({runs} runs)", flush=True)


if __name__ == "__main__":
    main()

"""Makes the parity fixtures of chord's WavLM encoder (transformers' WavLMModel), torchaudio's sinc
resampler, and Bert-VITS2's WavLMDiscriminator + WavLMLoss (fishaudio/Bert-VITS2 8f7fbd8 `models.py`,
`losses.py`), fp32 on CPU, seeded, offline (the WavLM is built from a config, never downloaded). Bert-VITS2
is not a pip package: pass the folder of a checkout (imported through bert_vits2_reference.py, never
copied).

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_bert_vits2_wavlm_fixtures.py /tmp/bv2

Writes two files under tests/fixtures/ (mirrored by tests/bert_vits2/test_wavlm.cpp):

`bert_vits2_wavlm.safetensors`:
  wavlm.*    state dict of a randomly initialised small WavLMModel (SMALL below: hidden 32, 2 layers, 2 heads,
             conv_dim 16×3, kernels 10/3/2, strides 5/2/2, pos-conv kernel 16 (even: one frame trimmed) in 4
             groups, num_buckets 32, max_bucket_distance 80), keys as the installed transformers writes them
             (pos-conv weight norm as `parametrizations.weight.original0/1`). Every bias, norm affine,
             `gru_rel_pos_const`, `rel_attn_embed` and the pos-conv `original0` (weight_g) is moved away from its
             initial value, which would hide a defect. Eval mode.
  io.wavlm.<case>.input / .hs<i> / .last: input_values [B, N] at 16 kHz and the `output_hidden_states=True`
             hidden states (layers + 1 entries). Cases `long` (B 2, N 1416 → 70 frames, beyond the relative
             distance that saturates the buckets) and `short` (B 1, N 139 → 6 frames).
  resample.kernel_44100_16000: the float32 kernel of torchaudio.transforms.Resample(44100, 16000) (built in
             float64, cast once).
  io.resample.<case>.input / .output:
             `t44k`   transforms.Resample(44100, 16000) on [2, 3901] (3901 is not a multiple of 441)
             `f44k`   functional.resample(x, 44100, 16000) (kernel built in float32) on the same input
             `up`     transforms.Resample(16000, 44100) on [1, 500]
             `kaiser` functional.resample(x, 24000, 16000, lowpass_filter_width 4, rolloff 0.9,
                      sinc_interp_kaiser, beta default) on [3, 2, 257] (leading dims kept)
  wd.*       models.WavLMDiscriminator(slm_hidden 32, slm_layers 3, initial_channel 8) state dict (weight_g
             moved, biases moved); io.wd.x.input [2, 96, 11] / io.wd.x.output.
  io.loss.*  losses.WavLMLoss(<the small WavLM saved and loaded with from_pretrained>, wd, 44100, 16000) on
             wav, y_rec [2, 3901] at 44.1 kHz: `forward` (+ `forward_grad`: d forward / d y_rec),
             `generator` (+ `generator_grad`), `discriminator` (+ `discriminator_grad_pre_v`: d / d wd.pre.weight_v),
             `discriminator_forward`.

`bert_vits2_wavlm_keys.txt`: one line `<key> <d0,d1,...>` per state-dict entry, at the real sizes:
`wavlm.` WavLMModel(WavLMConfig of microsoft/wavlm-base-plus, written here by hand: transformers defaults +
hidden 768, 12 layers, 12 heads, FFN 3072, feat_extract_norm group, do_stable_layer_norm False, conv_dim 512×7,
kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2, conv_bias False, num_buckets 320, max_bucket_distance 800,
pos-conv 128 / 16 groups, mask_time_prob 0.05) as the installed transformers names them; `wd.`
WavLMDiscriminator(768, 13, 64); `resample.kernel` of Resample(44100, 16000).
"""
import tempfile

import torch
import torchaudio
import transformers

from bert_vits2_reference import dims, key_lines, put, put_weights, save_fixture, seeded, start, write_lines

SEED = 20261130

SMALL = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    conv_dim=(16, 16, 16),
    conv_kernel=(10, 3, 2),
    conv_stride=(5, 2, 2),
    num_feat_extract_layers=3,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=4,
    num_buckets=32,
    max_bucket_distance=80,
)

BASE_PLUS = dict(
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    hidden_act="gelu",
    feat_extract_norm="group",
    feat_extract_activation="gelu",
    do_stable_layer_norm=False,
    conv_dim=(512,) * 7,
    conv_kernel=(10, 3, 3, 3, 3, 2, 2),
    conv_stride=(5, 2, 2, 2, 2, 2, 2),
    conv_bias=False,
    num_conv_pos_embeddings=128,
    num_conv_pos_embedding_groups=16,
    num_buckets=320,
    max_bucket_distance=800,
    layer_norm_eps=1e-5,
    mask_time_prob=0.05,
)


def perturb(module, gen):
    """Moves the parameters whose initial value would hide a defect (zero biases, unit norms, unit gate
    constants, 0.02-scale relative embeddings, weight_g = ‖v‖)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            leaf = name.split(".")[-1]
            if leaf == "bias":
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif "layer_norm" in name and leaf == "weight":
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif leaf == "gru_rel_pos_const":
                p.copy_(1.0 + 0.5 * torch.randn(p.shape, generator=gen))
            elif "rel_attn_embed" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            elif leaf in ("weight_g", "original0"):
                p.mul_(0.5 + torch.rand(p.shape, generator=gen))
            elif leaf == "weight" and p.dim() == 2 and any(w in name for w in ("proj", "dense", "linear")):
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)


def main():
    start(__doc__, {"transformers": "5.", "torchaudio": "2.11"})
    import models  # noqa: E402
    import losses  # noqa: E402

    gen = seeded(SEED)
    out = {}

    # --- WavLM ---
    config = transformers.WavLMConfig(**SMALL)
    wavlm = transformers.WavLMModel(config).eval()
    perturb(wavlm, gen)
    put_weights(out, "wavlm", wavlm)
    with torch.no_grad():
        for case, (b, n) in {"long": (2, 1416), "short": (1, 139)}.items():
            x = torch.randn(b, n, generator=gen)
            res = wavlm(input_values=x, output_hidden_states=True)
            hs = res.hidden_states
            assert len(hs) == SMALL["num_hidden_layers"] + 1
            put(out, "wavlm", case, input=x, last=res.last_hidden_state,
                **{f"hs{i}": h for i, h in enumerate(hs)})
            print(f"wavlm {case}: input {tuple(x.shape)} -> {len(hs)} x {tuple(hs[0].shape)}")

    # --- resampler ---
    t44 = torchaudio.transforms.Resample(44100, 16000)
    out["resample.kernel_44100_16000"] = t44.kernel.contiguous().clone()
    x = torch.randn(2, 3901, generator=gen)
    put(out, "resample", "t44k", input=x, output=t44(x))
    put(out, "resample", "f44k", input=x, output=torchaudio.functional.resample(x, 44100, 16000))
    x = torch.randn(1, 500, generator=gen)
    put(out, "resample", "up", input=x, output=torchaudio.transforms.Resample(16000, 44100)(x))
    x = torch.randn(3, 2, 257, generator=gen)
    y = torchaudio.functional.resample(x, 24000, 16000, lowpass_filter_width=4, rolloff=0.9,
                                       resampling_method="sinc_interp_kaiser")
    put(out, "resample", "kaiser", input=x, output=y)

    # --- WavLMDiscriminator ---
    wd = models.WavLMDiscriminator(SMALL["hidden_size"], SMALL["num_hidden_layers"] + 1, 8)
    perturb(wd, gen)
    put_weights(out, "wd", wd)
    x = torch.randn(2, SMALL["hidden_size"] * (SMALL["num_hidden_layers"] + 1), 11, generator=gen)
    with torch.no_grad():
        put(out, "wd", "x", input=x, output=wd(x))

    # --- WavLMLoss (from_pretrained of the small model, saved locally: no network) ---
    with tempfile.TemporaryDirectory() as folder:
        wavlm.save_pretrained(folder)
        wl = losses.WavLMLoss(folder, wd, 44100, 16000)
    loaded = wl.wavlm.state_dict()
    assert loaded.keys() == wavlm.state_dict().keys()
    assert all(torch.equal(loaded[k], v) for k, v in wavlm.state_dict().items())
    wav = torch.randn(2, 3901, generator=gen) * 0.3
    y_rec = (wav + 0.2 * torch.randn(2, 3901, generator=gen)).requires_grad_(True)
    put(out, "loss", "x", wav=wav, y_rec=y_rec)
    f = wl(wav, y_rec)
    (f_grad,) = torch.autograd.grad(f, y_rec)
    g = wl.generator(y_rec)
    (g_grad,) = torch.autograd.grad(g, y_rec)
    d = wl.discriminator(wav, y_rec.detach())
    (d_grad,) = torch.autograd.grad(d, wd.pre.weight_v)
    df = wl.discriminator_forward(wav)
    put(out, "loss", "x", forward=f, forward_grad=f_grad, generator=g, generator_grad=g_grad,
        discriminator=d, discriminator_grad_pre_v=d_grad, discriminator_forward=df)
    print(f"loss: forward {f.item():.6f} generator {g.item():.6f} discriminator {d.item():.6f} "
          f"discriminator_forward {tuple(df.shape)}")

    save_fixture(out, "bert_vits2_wavlm.safetensors")

    # --- real-size keys and shapes ---
    big = transformers.WavLMModel(transformers.WavLMConfig(**BASE_PLUS))
    lines = key_lines(big, "wavlm.")
    del big
    lines += key_lines(models.WavLMDiscriminator(768, 13, 64), "wd.")
    lines.append(f"resample.kernel {dims(t44.kernel.shape)}")
    write_lines(lines, "bert_vits2_wavlm_keys.txt")


if __name__ == "__main__":
    main()

"""Makes the end-to-end parity fixture of chord's Bert-VITS2 generator (`SynthesizerTrn` of fishaudio/Bert-VITS2
8f7fbd8 `models.py`, with `train_ms.py`'s mel and KL terms), fp32 on CPU. Bert-VITS2 is not a pip package: pass
the folder of a checkout (imported through bert_vits2_reference.py, never copied).

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_bert_vits2_synth_fixtures.py /tmp/bv2

Writes two files under tests/fixtures/ (mirrored by tests/bert_vits2/test_synth_parity.cpp):

`bert_vits2_synth_keys.txt`: `<key> <d0,d1,...>` per state-dict entry of the SynthesizerTrn train_ms.py builds
from configs/config.json (2.3: 850 speakers, n_fft 2048, segment 16384 / hop 512, transformer flow).

`bert_vits2_synth.safetensors`:

A small SynthesizerTrn (n_vocab 112, spec_channels 65, segment 8 frames, inter = hidden 16, filter 32,
2 heads, 3 layers, kernel 3, p_dropout 0.1, ResBlock "2" kernels [3, 5] dilations [[1, 3], [1, 3]],
upsample [4, 4] kernels [8, 8] from 16 channels, 4 speakers, gin 8, 2 flows of 3 transformer layers,
noise-scaled MAS 0.1 / 2e-6, see MAS_NOISE_INITIAL) in eval mode. The reference hard-codes the posterior
encoder's 16 WN layers, the DP's 256 filters and the SDP's filters (= hidden). Parameters whose initial
value would hide a defect are moved: LayerNorm gamma/beta and every all-zero parameter (the flows' `post`
convs, ConvFlow `proj`, ElementwiseAffine m/logs).

  synth.<key>       the transformer-flow model's state dict (what chord loads, strict)
  res.flow.<key>    the flow of a residual-coupling model (use_transformer_flow False); its other weights
                    are synth's
  batch.<name>      a collated batch of 2: texts of 9 and 6 phones, spectrograms of 32 and 23 frames (the
                    reference's spectrogram_torch of noisy tones, hop 16, n_fft 128); padded tokens, BERT
                    columns and spectrogram frames hold non-zero values; speakers 1, 3; BERT features stored
                    as int8 `batch.<bert|ja_bert|en_bert>_x128` (the features × 128)
  fwd.<out>         net_g(...) after torch.manual_seed(`fwd.seed`) with current_mas_noise_scale set as
                    train_ms.py does at global step `fwd.step`: o, l_length, attn, ids_slice, x_mask, y_mask,
                    z, z_p, m_p, logs_p, m_q, logs_q, x, logw, logw_, logw_sdp, g; the draws as made
                    (`draw.posterior`, `draw.mas`, `draw.sdp_posterior`, `draw.sdp_reverse`,
                    `draw.segment_starts`); train_ms.py's loss_mel (c_mel 45, mel of sr 16000, n_fft 128,
                    hop 16, 20 mels, fmax None), loss_kl (c_kl 1), loss_dur
  res.<out>         the same for the residual-flow model (seed `res.seed`)
  inf<r>.<out>      net_g.infer(...) after torch.manual_seed(`inf<r>.seed`) at sdp_ratio r/10 (r = 0, 5),
                    noise_scale 0.667, noise_scale_w 0.8, length_scale 1.2: o, attn, y_mask and the draws
                    `draw.sdp_reverse`, `draw.prior`
  inf0m.<out>       the same at sdp_ratio 0 with max_len 7 (decodes the first 7 frames only)
"""
import math
import torch

from bert_vits2_reference import key_lines, perturb, put_weights, save_fixture, seeded, start, write_lines
from bert_vits2_reference import put_prefixed as put

SEED = 20261201
SEED_FWD = 4242
SEED_RES = 4343
SEED_INF = 4444
STEP = 1000
B, TX, TY = 2, 9, 32
TEXT_LENGTHS, SPEC_LENGTHS = [9, 6], [32, 23]
SR, N_FFT, HOP, WIN, N_MELS = 16000, 128, 16, 128, 20
SEGMENT_FRAMES = 8
# Config 2.3 starts the MAS noise at 0.01; at this size that changes no alignment entry, so a wrongly scaled
# noise would go unnoticed. At 0.1 (0.098 at step 1000) it moves frames between phones (asserted).
MAS_NOISE_INITIAL = 0.1
MAX_LEN = 7  # infer's max_len: fewer frames than either item has


# Besides LayerNorm (weight_g left at ‖weight_v‖): every all-zero parameter (the flows' `post` convs, ConvFlow
# `proj`, ElementwiseAffine m/logs).
ZEROS = [(lambda name, p: bool((p == 0).all()), 0.1)]


class Recorder:
    """Wraps torch.randn / randn_like / rand to keep every tensor drawn from the global generator."""

    def __init__(self):
        self.draws = []
        self.saved = {}

    def __enter__(self):
        for name in ("randn", "randn_like", "rand"):
            original = getattr(torch, name)
            self.saved[name] = original

            def wrapped(*args, _original=original, _name=name, **kwargs):
                t = _original(*args, **kwargs)
                self.draws.append((_name, t.detach().clone()))
                return t

            setattr(torch, name, wrapped)
        return self

    def __exit__(self, *exc):
        for name, original in self.saved.items():
            setattr(torch, name, original)


def make_model(models, use_transformer_flow):
    return models.SynthesizerTrn(
        112, N_FFT // 2 + 1, SEGMENT_FRAMES, 16, 16, 32, 2, 3, 3, 0.1, "2", [3, 5], [[1, 3], [1, 3]], [4, 4], 16, [8, 8],
        n_speakers=4, gin_channels=8, n_flow_layer=2, n_layers_trans_flow=3, use_transformer_flow=use_transformer_flow,
        use_noise_scaled_mas=True, mas_noise_scale_initial=MAS_NOISE_INITIAL, noise_scale_delta=2e-6).eval()


def make_batch(mel_processing, gen):
    randn = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    text = torch.randint(1, 112, (B, TX), generator=gen)
    tone = torch.randint(0, 12, (B, TX), generator=gen)
    language = torch.randint(0, 3, (B, TX), generator=gen)
    # BERT features are multiples of 1/128 stored as int8 (×128): a quarter of the bytes, exact in fp32.
    bert, ja_bert, en_bert = (torch.randint(-16, 17, (B, 1024, TX), generator=gen).float() / 128 for _ in range(3))
    spec = 0.5 + torch.rand(B, N_FFT // 2 + 1, TY, generator=gen)  # padding: non-zero magnitudes
    wav = 0.02 * randn(B, 1, TY * HOP)
    for i, frames in enumerate(SPEC_LENGTHS):
        t = torch.arange(frames * HOP) / SR
        y = 0.3 * torch.sin(2 * math.pi * (300.0 + 170.0 * i) * t) + 0.05 * randn(frames * HOP)
        wav[i, 0, : frames * HOP] = y
        spec[i, :, :frames] = mel_processing.spectrogram_torch(y[None], N_FFT, SR, HOP, WIN, center=False)[0]
    return dict(text=text, text_lengths=torch.tensor(TEXT_LENGTHS), spec=spec, spec_lengths=torch.tensor(SPEC_LENGTHS),
                wav=wav, sid=torch.tensor([1, 3]), tone=tone, language=language, bert=bert, ja_bert=ja_bert, en_bert=en_bert)


def run_forward(net_g, batch, seed, commons, losses, mel_processing):
    net_g.current_mas_noise_scale = max(net_g.mas_noise_scale_initial - net_g.noise_scale_delta * STEP, 0.0)
    torch.manual_seed(seed)
    with torch.no_grad(), Recorder() as rec:
        (o, l_length, attn, ids_slice, x_mask, y_mask, (z, z_p, m_p, logs_p, m_q, logs_q), (x, logw, logw_, logw_sdp),
         g) = net_g(batch["text"], batch["text_lengths"], batch["spec"], batch["spec_lengths"], batch["sid"], batch["tone"],
                    batch["language"], batch["bert"], batch["ja_bert"], batch["en_bert"])
    kinds = [k for k, _ in rec.draws]
    assert kinds == ["randn_like", "randn_like", "randn", "randn", "rand"], kinds
    draws = [t for _, t in rec.draws]
    with torch.no_grad():
        mel = mel_processing.spec_to_mel_torch(batch["spec"], N_FFT, N_MELS, SR, 0.0, None)
        y_mel = commons.slice_segments(mel, ids_slice, SEGMENT_FRAMES)
        y_hat_mel = mel_processing.mel_spectrogram_torch(o.squeeze(1).float(), N_FFT, N_MELS, SR, HOP, WIN, 0.0, None)
        loss_mel = torch.nn.functional.l1_loss(y_mel, y_hat_mel) * 45.0
        loss_kl = losses.kl_loss(z_p, logs_q, m_p, logs_p, y_mask) * 1.0
        loss_dur = torch.sum(l_length.float())
    # The MAS noise must matter, or a mis-drawn one would go unnoticed: the alignment without it differs.
    net_g.current_mas_noise_scale = 0.0
    torch.manual_seed(seed)
    with torch.no_grad():
        attn_clean = net_g(batch["text"], batch["text_lengths"], batch["spec"], batch["spec_lengths"], batch["sid"],
                           batch["tone"], batch["language"], batch["bert"], batch["ja_bert"], batch["en_bert"])[2]
    changed = int((attn_clean != attn).sum())
    print(f"  MAS noise changes {changed} alignment entries; ids_slice {ids_slice.tolist()}")
    assert changed > 0, "the MAS noise changes no alignment entry"
    return dict(o=o, l_length=l_length, attn=attn, ids_slice=ids_slice, x_mask=x_mask, y_mask=y_mask, z=z, z_p=z_p, m_p=m_p,
                logs_p=logs_p, m_q=m_q, logs_q=logs_q, x=x, logw=logw, logw_=logw_, logw_sdp=logw_sdp, g=g,
                loss_mel=loss_mel, loss_kl=loss_kl, loss_dur=loss_dur, seed=torch.tensor([seed]), step=torch.tensor([STEP]),
                **{"draw.posterior": draws[0], "draw.mas": draws[1], "draw.sdp_posterior": draws[2],
                   "draw.sdp_reverse": draws[3], "draw.segment_starts": ids_slice})


def run_infer(net_g, batch, seed, sdp_ratio, max_len=None):
    def infer():
        return net_g.infer(batch["text"], batch["text_lengths"], batch["sid"], batch["tone"], batch["language"],
                           batch["bert"], batch["ja_bert"], batch["en_bert"], noise_scale=0.667, length_scale=1.2,
                           noise_scale_w=0.8, max_len=max_len, sdp_ratio=sdp_ratio)

    torch.manual_seed(seed)
    with torch.no_grad(), Recorder() as rec:
        o, attn, y_mask, _ = infer()
    kinds = [k for k, _ in rec.draws]
    assert kinds == ["randn", "randn_like"], kinds
    # ceil(w) must not sit near an integer, where rounding of ~1e-7 would change a duration.
    original_ceil, seen = torch.ceil, []
    torch.ceil = lambda w: (seen.append(w.detach().clone()), original_ceil(w))[1]
    try:
        torch.manual_seed(seed)
        with torch.no_grad():
            infer()
    finally:
        torch.ceil = original_ceil
    w = seen[0][seen[0] > 0]
    margin = float((w - w.round()).abs().min())
    assert margin > 1e-3, f"a duration sits {margin} from an integer"
    durations = attn.sum(2).squeeze(1)
    print(f"  infer sdp_ratio {sdp_ratio} max_len {max_len}: margin {margin:.4f}, frames {y_mask.sum((1, 2)).tolist()}, "
          f"durations {durations.tolist()}, samples {o.shape[-1]}")
    return dict(o=o, attn=attn, y_mask=y_mask, seed=torch.tensor([seed]),
                **{"draw.sdp_reverse": rec.draws[0][1], "draw.prior": rec.draws[1][1]})


def main():
    start(__doc__)
    import commons  # noqa: E402  (the checkout's modules)
    import losses  # noqa: E402
    import mel_processing  # noqa: E402
    import models  # noqa: E402
    import librosa  # noqa: E402

    # librosa >= 0.10 made filters.mel keyword-only; mel_processing calls it positionally.
    mel_processing.librosa_mel_fn = lambda sr, n_fft, n_mels, fmin, fmax: librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)

    gen = seeded(SEED, SEED + 1)
    out = {}

    net_g = make_model(models, True)
    perturb(net_g, gen, weight_g=False, rules=ZEROS)
    put_weights(out, "synth", net_g)
    res = make_model(models, False)
    shared = {k: v for k, v in net_g.state_dict().items() if not k.startswith("flow.")}
    missing, unexpected = res.load_state_dict(shared, strict=False)
    assert not unexpected and all(k.startswith("flow.") for k in missing)
    perturb(res, gen, weight_g=False, rules=ZEROS, only="flow.")
    put(out, "res", **{k: v for k, v in res.state_dict().items() if k.startswith("flow.")})

    batch = make_batch(mel_processing, gen)
    # Padded tokens and BERT columns non-zero (the masks must do the work).
    assert bool((batch["text"][1, TEXT_LENGTHS[1]:] != 0).all())
    put(out, "batch", **{k: v for k, v in batch.items() if "bert" not in k})
    put(out, "batch", **{f"{k}_x128": (batch[k] * 128).to(torch.int8) for k in ("bert", "ja_bert", "en_bert")})

    print("forward (transformer flow)")
    put(out, "fwd", **run_forward(net_g, batch, SEED_FWD, commons, losses, mel_processing))
    print("forward (residual flow)")
    put(out, "res", **run_forward(res, batch, SEED_RES, commons, losses, mel_processing))
    for r in (0, 5):
        put(out, f"inf{r}", **run_infer(net_g, batch, SEED_INF + r, r / 10))
    put(out, "inf0m", **run_infer(net_g, batch, SEED_INF + 9, 0.0, max_len=MAX_LEN))

    save_fixture(out, "bert_vits2_synth.safetensors")

    # train_ms.py's net_g for configs/config.json (2.3), keys and shapes only.
    real = models.SynthesizerTrn(
        112, 2048 // 2 + 1, 16384 // 512, 192, 192, 768, 2, 6, 3, 0.1, "1", [3, 7, 11], [[1, 3, 5]] * 3,
        [8, 8, 2, 2, 2], 512, [16, 16, 8, 2, 2], n_speakers=850, gin_channels=512, use_noise_scaled_mas=True,
        mas_noise_scale_initial=0.01, noise_scale_delta=2e-6)
    write_lines(key_lines(real), "bert_vits2_synth_keys.txt")


if __name__ == "__main__":
    main()

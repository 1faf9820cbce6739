"""Makes the parity fixtures of chord's Bert-VITS2 decoder and discriminators from fishaudio/Bert-VITS2
8f7fbd8 (`models.Generator`, `modules.ResBlock1/2`, `models.MultiPeriodDiscriminator`,
`models.DurationDiscriminator`), fp32 on CPU. Bert-VITS2 is not a pip package: pass the folder of a checkout
(it is imported from there through bert_vits2_reference.py, never copied).

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_bert_vits2_decoder_fixtures.py /tmp/bv2

Writes two files under tests/fixtures/ (sizes mirrored by tests/bert_vits2/test_decoder.cpp):

`bert_vits2_decoder.safetensors`: small modules, their weights under a prefix and their inputs/outputs under
`io.<prefix>.<case>.<name>`. Every `weight_g` is scaled away from ‖weight_v‖ (its initial value, which would
hide a defect in the weight-norm formula), LayerNorm gamma/beta are moved off 1/0. Eval mode (dropout off).
  gen1  Generator(8, "1", [3, 7], [[1,3,5],[1,3,5]], upsample [4, 2], initial 16, kernels [8, 4], gin 8):
        x [2, 8, 9]; cases `g` (out, and `out_rwn` after the reference's remove_weight_norm) and `nog`.
  gen2  Generator(8, "2", [3, 5], [[1,3],[2,1]], upsample [3, 2], initial 16, kernels [6, 4], no gin):
        x [2, 8, 7]; k - u = 3 is odd in the first stage, so its output is 3T + 1 long (out [2, 1, 44]).
  rb1   modules.ResBlock1(6, 3, (1, 2, 3)) and rb2 modules.ResBlock2(6, 5, (1, 3)): x [2, 6, 10], lengths
        10/6 (padded frames non-zero), outputs `out` (no mask) and `out_mask` (x_mask given).
  mpd   models.MultiPeriodDiscriminator() with REDUCED channels: the reference hard-codes 32..1024 channels
        (≈ 41 M parameters, 164 MB), so each sub-discriminator's `convs` and `conv_post` are replaced by
        weight-normed convolutions of the same kernels, strides, paddings and group structure but fewer
        channels (DiscriminatorS 4, 8, 16, 32, 32, 32 with groups 1, 2, 4, 8, 16, 1; DiscriminatorP 4, 8, 16,
        32, 32); the forward code is the reference's own. y, y_hat [2, 1, 1100] (1100 is a multiple of 2, 5
        and 11 but not of 3 or 7: both the reflect-padded and the unpadded fold run). Outputs
        `io.mpd.x.y_d_r.<i>`, `y_d_g.<i>`, `fmap_r.<i>.<j>`, `fmap_g.<i>.<j>`.
  dd    models.DurationDiscriminator(8, 16, 3, 0.1, gin 8): x [2, 8, 7], lengths 7/4 (padding non-zero),
        dur_r, dur_hat [2, 1, 7]; cases `g` and `nog` (g None), outputs prob_r, prob_hat [2, 7, 1].

`bert_vits2_decoder_keys.txt`: one line `<key> <d0,d1,...>` per state-dict entry at the shipped config's
sizes (reference/vits2.md §1.1, §2): `dec.` Generator(192, "1", [3,7,11], [[1,3,5]]*3, [8,8,2,2,2], 512,
[16,16,8,2,2], gin 512), `mpd.` MultiPeriodDiscriminator() (full size), `dur_disc.` DurationDiscriminator(192,
192, 3, 0.1, gin 512); then `shape.mpd.y_d.<i>` and `shape.mpd.fmap.<i>.<j>` lines: the output shapes of the
full-size MPD on one [1, 1, 1100] waveform, and `shape.dec.out` for the full Generator on z [1, 192, 3].
"""
import torch

from bert_vits2_reference import (dims, key_lines, mask_of, perturb, put, put_weights, save_fixture, seeded, start,
                                  write_lines)

SEED = 20261130


def shrink_mpd(mpd):
    """Replaces the channel counts the reference hard-codes by small ones; the forward stays the reference's."""
    from torch.nn import Conv1d, Conv2d, ModuleList
    from torch.nn.utils import weight_norm

    s = mpd.discriminators[0]
    ch, groups = [4, 8, 16, 32, 32, 32], [1, 2, 4, 8, 16, 1]
    kernels, strides, pads = [15, 41, 41, 41, 41, 5], [1, 4, 4, 4, 4, 1], [7, 20, 20, 20, 20, 2]
    ins = [1] + ch[:-1]
    s.convs = ModuleList(
        [weight_norm(Conv1d(i, o, k, st, groups=g, padding=p)) for i, o, k, st, g, p in zip(ins, ch, kernels, strides, groups, pads)]
    )
    s.conv_post = weight_norm(Conv1d(ch[-1], 1, 3, 1, padding=1))
    pch = [4, 8, 16, 32, 32]
    pins = [1] + pch[:-1]
    for d in mpd.discriminators[1:]:
        d.convs = ModuleList(
            [weight_norm(Conv2d(i, o, (5, 1), (3 if j < 4 else 1, 1), padding=(2, 0))) for j, (i, o) in enumerate(zip(pins, pch))]
        )
        d.conv_post = weight_norm(Conv2d(pch[-1], 1, (3, 1), 1, padding=(1, 0)))


def main():
    start(__doc__)
    import models
    import modules

    gen = seeded(SEED)
    store = {}

    # Generators.
    gen1 = models.Generator(8, "1", [3, 7], [[1, 3, 5], [1, 3, 5]], [4, 2], 16, [8, 4], gin_channels=8).eval()
    gen2 = models.Generator(8, "2", [3, 5], [[1, 3], [2, 1]], [3, 2], 16, [6, 4], gin_channels=0).eval()
    for m in (gen1, gen2):
        perturb(m, gen)
    put_weights(store, "gen1", gen1)
    put_weights(store, "gen2", gen2)
    with torch.no_grad():
        x = torch.randn(2, 8, 9, generator=gen)
        g = torch.randn(2, 8, 1, generator=gen)
        out_g = gen1(x, g=g)
        out_nog = gen1(x)
        put(store, "gen1", "g", x=x, g=g, out=out_g)
        put(store, "gen1", "nog", out=out_nog)
        gen1.remove_weight_norm()
        put(store, "gen1", "g", out_rwn=gen1(x, g=g))
        x2 = torch.randn(2, 8, 7, generator=gen)
        put(store, "gen2", "x", x=x2, out=gen2(x2))

    # ResBlocks with a mask.
    rb1 = modules.ResBlock1(6, 3, (1, 2, 3)).eval()
    rb2 = modules.ResBlock2(6, 5, (1, 3)).eval()
    for name, m in (("rb1", rb1), ("rb2", rb2)):
        perturb(m, gen)
        put_weights(store, name, m)
        with torch.no_grad():
            x = torch.randn(2, 6, 10, generator=gen)
            mask = mask_of([10, 6], 10)
            put(store, name, "x", x=x, x_mask=mask, out=m(x), out_mask=m(x, mask))

    # Multi-period discriminator, reduced channels.
    mpd = models.MultiPeriodDiscriminator()
    shrink_mpd(mpd)
    mpd.eval()
    perturb(mpd, gen)
    put_weights(store, "mpd", mpd)
    with torch.no_grad():
        y = torch.tanh(torch.randn(2, 1, 1100, generator=gen))
        y_hat = torch.tanh(torch.randn(2, 1, 1100, generator=gen))
        y_d_rs, y_d_gs, fmap_rs, fmap_gs = mpd(y, y_hat)
        put(store, "mpd", "x", y=y, y_hat=y_hat)
        for i in range(len(y_d_rs)):
            put(store, "mpd", "x", **{f"y_d_r.{i}": y_d_rs[i], f"y_d_g.{i}": y_d_gs[i]})
            for j in range(len(fmap_rs[i])):
                put(store, "mpd", "x", **{f"fmap_r.{i}.{j}": fmap_rs[i][j], f"fmap_g.{i}.{j}": fmap_gs[i][j]})

    # Duration discriminator.
    dd = models.DurationDiscriminator(8, 16, 3, 0.1, gin_channels=8).eval()
    perturb(dd, gen)
    put_weights(store, "dd", dd)
    with torch.no_grad():
        x = torch.randn(2, 8, 7, generator=gen)
        mask = mask_of([7, 4], 7)
        dur_r = torch.randn(2, 1, 7, generator=gen)
        dur_hat = torch.randn(2, 1, 7, generator=gen)
        g = torch.randn(2, 8, 1, generator=gen)
        p_r, p_hat = dd(x, mask, dur_r, dur_hat, g=g)
        put(store, "dd", "g", x=x, x_mask=mask, dur_r=dur_r, dur_hat=dur_hat, g=g, prob_r=p_r, prob_hat=p_hat)
        p_r, p_hat = dd(x, mask, dur_r, dur_hat)
        put(store, "dd", "nog", prob_r=p_r, prob_hat=p_hat)

    save_fixture(store, "bert_vits2_decoder.safetensors")

    # Key lists and output shapes at the shipped sizes.
    dec = models.Generator(192, "1", [3, 7, 11], [[1, 3, 5]] * 3, [8, 8, 2, 2, 2], 512, [16, 16, 8, 2, 2], gin_channels=512).eval()
    full_mpd = models.MultiPeriodDiscriminator().eval()
    dur_disc = models.DurationDiscriminator(192, 192, 3, 0.1, gin_channels=512)
    lines = [line for prefix, m in (("dec", dec), ("mpd", full_mpd), ("dur_disc", dur_disc))
             for line in key_lines(m, f"{prefix}.")]
    with torch.no_grad():
        y_d, _, fmaps, _ = full_mpd(torch.zeros(1, 1, 1100), torch.zeros(1, 1, 1100))
        for i, (yd, fm) in enumerate(zip(y_d, fmaps)):
            lines.append(f"shape.mpd.y_d.{i} {dims(yd.shape)}")
            for j, f in enumerate(fm):
                lines.append(f"shape.mpd.fmap.{i}.{j} {dims(f.shape)}")
        out = dec(torch.zeros(1, 192, 3), g=torch.zeros(1, 512, 1))
        lines.append(f"shape.dec.out {dims(out.shape)}")
    write_lines(lines, "bert_vits2_decoder_keys.txt")


if __name__ == "__main__":
    main()

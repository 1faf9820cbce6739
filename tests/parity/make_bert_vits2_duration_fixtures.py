"""Makes the parity fixtures of chord's Bert-VITS2 duration predictors, rational-quadratic spline and losses
from fishaudio/Bert-VITS2 8f7fbd8 (`models.py`, `modules.py`, `transforms.py`, `losses.py`), fp32 on CPU.
Bert-VITS2 is not a pip package: pass the folder of a checkout (imported through bert_vits2_reference.py,
never copied).

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_bert_vits2_duration_fixtures.py /tmp/bv2

Writes two files under tests/fixtures/ (mirrored by tests/bert_vits2/test_durations.cpp):

`bert_vits2_duration.safetensors`: weights under a prefix, inputs/outputs under `io.<prefix>.<case>.<name>`.
Parameters whose initial value would hide a defect are moved: LayerNorm gamma/beta, the ElementwiseAffine
`m`/`logs` (zeros) and the zero-initialised ConvFlow `proj` (a zero `proj` gives every spline uniform bins).
Modules are in eval mode (dropout off); padded frames of x hold non-zero values.
  spline   transforms.piecewise_rational_quadratic_transform(tails="linear"): case `k10` (K 10, tail_bound 5,
           ConvFlow's setting) and `k4` (K 4, tail_bound 1.5, min bin width/height/derivative 0.02/0.05/0.01),
           inputs [3, 40] spanning beyond the bound (exactly ±bound and 0 included); outputs `fwd`/`fwd_lad`
           and `inv`/`inv_lad`, and the gradients `grad_{fwd,inv}_{inputs,widths,heights,derivs}` of
           sum(out·r_out + lad·r_lad).
  sdp      models.StochasticDurationPredictor(16, 16, 3, 0.5, n_flows 4, gin 8), T 11, lengths 11/7:
           `fwd` nll for durations `w` (integers ≥ 1, zero on padding) with the draw `e_q` made after
           torch.manual_seed(`seed_fwd`) (recorded unmasked, as drawn); `rev` logw for noise_scale 0.8 with the
           draw `noise` after torch.manual_seed(`seed_rev`); `grad.<key>` the parameter gradients of fwd.sum().
  sdp2     models.StochasticDurationPredictor(6, 6, 3, 0.5, n_flows 2, gin 0): `fwd`, `rev` (noise_scale 1)
           without g; post_flows still hold 4 ConvFlows (the reference's `range(4)`).
  dp       models.DurationPredictor(16, 24, 3, 0.5, gin 8): `out` with g, `out_nog` without.
  loss     losses.feature_loss on two discriminators' feature maps (`fmap_r.i.j`, `fmap_g.i.j`, 4-D and 3-D),
           discriminator_loss (`dr.i`, `dg.i` → `disc`, `disc_r`, `disc_g`), generator_loss (`dg.i` → `gen`,
           `gen_each`), kl_loss (`z_p`, `logs_q`, `m_p`, `logs_p`, `z_mask` → `kl`); `dur`: the duration
           terms of SynthesizerTrn.forward / train_ms.py from the sdp case (`w`, `nll` = sdp(x, w),
           `logw` = dp(x), `logw_sdp` = the sdp `rev` output at noise_scale 1 → `logw_`, `l_length_dp`,
           `l_length_sdp`, `l_length`, `loss_dur`).

`bert_vits2_duration_keys.txt`: `<key> <d0,d1,...>` per state-dict entry of sdp StochasticDurationPredictor(192,
192, 3, 0.5, n_flows 4, gin 512) and dp DurationPredictor(192, 256, 3, 0.5, gin 512), the shipped config's
sizes (reference/vits2.md §1.1).
"""
import torch

from bert_vits2_reference import key_lines, mask_of, perturb, put, put_weights, save_fixture, seeded, start, write_lines

SEED = 20261130
SEED_FWD = 777
SEED_REV = 778
SEED_FWD2 = 779
SEED_REV2 = 780


# Besides LayerNorm (no weight norm here): ElementwiseAffine m/logs and ConvFlow.proj (zero in the reference's init).
FLOWS = [
    (lambda name, p: name.split(".")[-1] in ("m", "logs"), 0.3),
    (lambda name, p: name.split(".")[-2:-1] == ["proj"] and "flows" in name.split(".")[0], 0.3),
]


def spline_cases(out, transforms, gen):
    randn = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    for case, k, bound, mins in [("k10", 10, 5.0, (1e-3, 1e-3, 1e-3)), ("k4", 4, 1.5, (0.02, 0.05, 0.01))]:
        inputs = (torch.rand(3, 40, generator=gen) * 2.8 - 1.4) * bound
        inputs[0, 0], inputs[0, 1], inputs[0, 2] = bound, -bound, 0.0
        widths, heights, derivs = 1.5 * randn(3, 40, k), 1.5 * randn(3, 40, k), 1.5 * randn(3, 40, k - 1)
        r_out, r_lad = randn(3, 40), randn(3, 40)
        tensors = dict(inputs=inputs, widths=widths, heights=heights, derivs=derivs, r_out=r_out, r_lad=r_lad)
        for direction, inverse in [("fwd", False), ("inv", True)]:
            leaves = [t.clone().requires_grad_(True) for t in (inputs, widths, heights, derivs)]
            y, lad = transforms.piecewise_rational_quadratic_transform(
                *leaves, inverse=inverse, tails="linear", tail_bound=bound, min_bin_width=mins[0],
                min_bin_height=mins[1], min_derivative=mins[2])
            (y * r_out + lad * r_lad).sum().backward()
            tensors[direction] = y
            tensors[f"{direction}_lad"] = lad
            for name, leaf in zip(("inputs", "widths", "heights", "derivs"), leaves):
                tensors[f"grad_{direction}_{name}"] = leaf.grad
        put(out, "spline", case, **tensors)


def main():
    start(__doc__)
    import losses  # noqa: E402  (the checkout's modules)
    import models  # noqa: E402
    import transforms  # noqa: E402

    gen = seeded(SEED, SEED + 1)
    randn = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    out = {}

    spline_cases(out, transforms, gen)

    # Stochastic duration predictor, gin 8.
    sdp = models.StochasticDurationPredictor(16, 16, 3, 0.5, n_flows=4, gin_channels=8).eval()
    perturb(sdp, gen, weight_g=False, rules=FLOWS)
    put_weights(out, "sdp", sdp)
    b, t, lengths = 2, 11, [11, 7]
    x, mask, g = randn(b, 16, t), mask_of(lengths, t), randn(b, 8, 1)
    w = torch.randint(1, 6, (b, 1, t), generator=gen).float() * mask
    torch.manual_seed(SEED_FWD)
    nll = sdp(x, mask, w, g=g)
    torch.manual_seed(SEED_FWD)
    e_q = torch.randn(b, 2, t)
    sdp.zero_grad()
    nll.sum().backward()
    for k, p in sdp.named_parameters():
        out[f"io.sdp.fwd.grad.{k}"] = p.grad.detach().contiguous().clone()
    with torch.no_grad():
        torch.manual_seed(SEED_REV)
        logw = sdp(x, mask, g=g, reverse=True, noise_scale=0.8)
        torch.manual_seed(SEED_REV)
        noise = torch.randn(b, 2, t)
        torch.manual_seed(SEED_REV)
        logw_sdp = sdp(x, mask, g=g, reverse=True, noise_scale=1.0)
    put(out, "sdp", "fwd", x=x, mask=mask, g=g, w=w, e_q=e_q, nll=nll,
        seed=torch.tensor([SEED_FWD], dtype=torch.int64))
    put(out, "sdp", "rev", noise=noise, logw=logw, seed=torch.tensor([SEED_REV], dtype=torch.int64))

    # Without speaker conditioning and with 2 flows.
    sdp2 = models.StochasticDurationPredictor(6, 6, 3, 0.5, n_flows=2, gin_channels=0).eval()
    perturb(sdp2, gen, weight_g=False, rules=FLOWS)
    put_weights(out, "sdp2", sdp2)
    x2, mask2 = randn(2, 6, 9), mask_of([9, 4], 9)
    w2 = torch.randint(1, 4, (2, 1, 9), generator=gen).float() * mask2
    with torch.no_grad():
        torch.manual_seed(SEED_FWD2)
        nll2 = sdp2(x2, mask2, w2)
        torch.manual_seed(SEED_FWD2)
        e_q2 = torch.randn(2, 2, 9)
        torch.manual_seed(SEED_REV2)
        logw2 = sdp2(x2, mask2, reverse=True)
        torch.manual_seed(SEED_REV2)
        noise2 = torch.randn(2, 2, 9)
    put(out, "sdp2", "fwd", x=x2, mask=mask2, w=w2, e_q=e_q2, nll=nll2)
    put(out, "sdp2", "rev", noise=noise2, logw=logw2)

    dp = models.DurationPredictor(16, 24, 3, 0.5, gin_channels=8).eval()
    perturb(dp, gen, weight_g=False, rules=FLOWS)
    put_weights(out, "dp", dp)
    with torch.no_grad():
        logw_dp = dp(x, mask, g=g)
        put(out, "dp", "x", x=x, mask=mask, g=g, out=logw_dp, out_nog=dp(x, mask))

    # Losses.
    with torch.no_grad():
        shapes = [[(2, 4, 8, 3), (2, 8, 4, 3), (2, 1, 4, 3)], [(2, 4, 16), (2, 1, 16)]]
        fmap_r = [[randn(*s) for s in disc] for disc in shapes]
        fmap_g = [[randn(*s) for s in disc] for disc in shapes]
        for i, disc in enumerate(shapes):
            for j in range(len(disc)):
                out[f"io.loss.x.fmap_r.{i}.{j}"] = fmap_r[i][j].contiguous()
                out[f"io.loss.x.fmap_g.{i}.{j}"] = fmap_g[i][j].contiguous()
        dr = [randn(2, 24), randn(2, 12), randn(2, 1, 5)]
        dg = [randn(2, 24), randn(2, 12), randn(2, 1, 5)]
        disc, disc_r, disc_g = losses.discriminator_loss(dr, dg)
        gen_loss, gen_each = losses.generator_loss(dg)
        z_p, logs_q, m_p, logs_p = randn(2, 6, 13), 0.5 * randn(2, 6, 13), randn(2, 6, 13), 0.5 * randn(2, 6, 13)
        z_mask = mask_of([13, 9], 13)
        kl = losses.kl_loss(z_p, logs_q, m_p, logs_p, z_mask)
        tensors = dict(z_p=z_p, logs_q=logs_q, m_p=m_p, logs_p=logs_p, z_mask=z_mask, kl=kl,
                       fm=losses.feature_loss(fmap_r, fmap_g), disc=disc, disc_r=torch.tensor(disc_r),
                       disc_g=torch.tensor(disc_g), gen=gen_loss, gen_each=torch.stack(gen_each))
        for i in range(3):
            tensors[f"dr.{i}"], tensors[f"dg.{i}"] = dr[i], dg[i]
        put(out, "loss", "x", **tensors)

        # Duration terms, as SynthesizerTrn.forward and train_ms.py combine them.
        l_length_sdp = nll.detach() / torch.sum(mask)
        logw_ = torch.log(w + 1e-6) * mask
        l_length_dp = torch.sum((logw_dp - logw_) ** 2, [1, 2]) / torch.sum(mask)
        l_length_sdp += torch.sum((logw_sdp - logw_) ** 2, [1, 2]) / torch.sum(mask)
        l_length = l_length_dp + l_length_sdp
        loss_dur = torch.sum(l_length.float())
        put(out, "loss", "dur", w=w, mask=mask, nll=nll, logw=logw_dp, logw_sdp=logw_sdp, logw_=logw_,
            l_length_dp=l_length_dp, l_length_sdp=l_length_sdp, l_length=l_length, loss_dur=loss_dur)

    save_fixture(out, "bert_vits2_duration.safetensors")

    real = [
        ("sdp", models.StochasticDurationPredictor(192, 192, 3, 0.5, n_flows=4, gin_channels=512)),
        ("dp", models.DurationPredictor(192, 256, 3, 0.5, gin_channels=512)),
    ]
    lines = [line for prefix, module in real for line in key_lines(module, f"{prefix}.")]
    write_lines(lines, "bert_vits2_duration_keys.txt")


if __name__ == "__main__":
    main()

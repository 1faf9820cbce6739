"""Makes the parity fixtures of chord's Bert-VITS2 encoders and flows from fishaudio/Bert-VITS2 8f7fbd8
(`attentions.py`, `modules.py`, `models.py`), fp32 on CPU. Bert-VITS2 is not a pip package: pass the folder
of a checkout (it is imported from there through bert_vits2_reference.py, never copied).

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_bert_vits2_encoder_fixtures.py /tmp/bv2

Writes two files under tests/fixtures/:

`bert_vits2_encoder.safetensors`: small modules (sizes in CONFIGS below, mirrored by
tests/bert_vits2/test_encoders.cpp), their weights under a prefix and their inputs/outputs under
`io.<prefix>.<case>.<name>`. Weights sit away from their initial values where the initial value would hide
a defect: LayerNorm gamma/beta, weight_g (weight norm), and the zero-initialised `post` convolutions of the
coupling layers (a zero `post` makes every coupling layer the identity on its half). All modules are in eval
mode (dropout off). Padded frames of every input hold non-zero values, as reference/vits2.md §10 asks.
  attn     attentions.Encoder(16, 32, 2 heads, 3 layers, kernel 3, window 4, gin 8): cases `g` (T 11, lengths
           11/7, with g), `nog` (same input, g None), `t5` (T 5 = window+1, lengths 5/2), `t3` (T 3 < window),
           `t1` (T 1), each with g except `nog`.
  attn0    attentions.Encoder(16, 32, 2 heads, 2 layers, kernel 1) without gin: case `x` (T 11, lengths 11/6).
  mha      attentions.MultiHeadAttention(8 → 6, 2 heads, window 2, heads_share False): case `x` (T 7, lengths 7/4).
  enc_p    models.TextEncoder(112, 6, 16, 32, 2, 3, 3, 0.1, gin 8): phone/tone/language ids, random BERT
           features [B, 1024, T] (three streams), g; outputs h, m, logs, x_mask (T 11, lengths 11/8).
  enc_q    models.PosteriorEncoder(20, 6, 16, kernel 5, dilation_rate 2, 3 layers, gin 8): `z` drawn after
           torch.manual_seed(`seed`); `eps` is that draw (T 17, lengths 17/12). Case `wn`: its WN alone
           (`enc_q.enc`) on another input, with g and without (`out_nog`).
  flow     models.TransformerCouplingBlock(8, 16, 32, 2 heads, 3 layers, kernel 5, 0.1, n_flows 2, gin 8):
           `fwd` = flow(x), `rev_of_fwd` = flow(fwd, reverse), `rev` = flow(x, reverse), `fwd_nog` without g.
  rflow    models.ResidualCouplingBlock(8, 16, kernel 5, dilation 1, 2 layers, n_flows 2, gin 8): same cases.
  rcl      modules.ResidualCouplingLayer(8, 8, kernel 3, dilation 2, 2 layers, mean_only False, no gin):
           `fwd`, `logdet`, `rev`.
  tcl      modules.TransformerCouplingLayer(4, 8, kernel 3, 1 layer, 2 heads, filter 16, mean_only False, no
           gin): `fwd`, `logdet`, `rev`.

`bert_vits2_encoder_keys.txt`: one line `<key> <d0,d1,...>` per state-dict entry of the modules at the
shipped config's sizes (reference/vits2.md §1.1): enc_p TextEncoder(112, 192, 192, 768, 2, 6, 3, 0.1, gin
512), enc_q PosteriorEncoder(1025, 192, 192, 5, 1, 16, gin 512), flow TransformerCouplingBlock(192, 192, 768,
2, 4, 5, 0.1, 4, gin 512), and rflow ResidualCouplingBlock(192, 192, 5, 1, 4, n_flows 4, gin 512) (the VITS-1
flow, use_transformer_flow False).

The duration predictor (`dp`) has its own cases in make_bert_vits2_duration_fixtures.py.
"""
import torch

from bert_vits2_reference import key_lines, mask_of, perturb, put, put_weights, save_fixture, seeded, start, write_lines

SEED = 20261201
EPS_SEED = 4242


# Besides LayerNorm and weight_g: the coupling layers' zero-initialised `post` convs.
POST = [(lambda name, p: name.split(".")[-2:-1] == ["post"], 0.1)]


def main():
    start(__doc__)
    import attentions  # noqa: E402  (the checkout's modules)
    import models  # noqa: E402
    import modules  # noqa: E402

    gen = seeded(SEED, SEED + 1)
    randn = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    out = {}

    with torch.no_grad():
        # attentions.Encoder with speaker conditioning before layer 2.
        enc = attentions.Encoder(16, 32, 2, 3, 3, 0.1, window_size=4, gin_channels=8).eval()
        perturb(enc, gen, rules=POST)
        put_weights(out, "attn", enc)
        for case, lengths, t, with_g in [("g", [11, 7], 11, True), ("nog", [11, 7], 11, False),
                                          ("t5", [5, 2], 5, True), ("t3", [3], 3, True), ("t1", [1], 1, True)]:
            if case == "nog":
                x = out["io.attn.g.x"]
            else:
                x = randn(len(lengths), 16, t)
            mask = mask_of(lengths, t)
            g = randn(len(lengths), 8, 1) if with_g else None
            y = enc(x, mask, g=g)
            put(out, "attn", case, x=x, mask=mask, y=y, **({"g": g} if with_g else {}))

        enc0 = attentions.Encoder(16, 32, 2, 2, 1, 0.0).eval()
        perturb(enc0, gen, rules=POST)
        put_weights(out, "attn0", enc0)
        x, mask = randn(2, 16, 11), mask_of([11, 6], 11)
        put(out, "attn0", "x", x=x, mask=mask, y=enc0(x, mask))

        mha = attentions.MultiHeadAttention(8, 6, 2, p_dropout=0.0, window_size=2, heads_share=False).eval()
        put_weights(out, "mha", mha)
        x, mask = randn(2, 8, 7), mask_of([7, 4], 7)
        attn_mask = mask.unsqueeze(2) * mask.unsqueeze(-1)
        put(out, "mha", "x", x=x, mask=mask, y=mha(x, x, attn_mask))

        # TextEncoder (phone embedding sized len(symbols) = 112).
        enc_p = models.TextEncoder(112, 6, 16, 32, 2, 3, 3, 0.1, gin_channels=8).eval()
        perturb(enc_p, gen, rules=POST)
        put_weights(out, "enc_p", enc_p)
        b, t = 2, 11
        ids = torch.randint(0, 112, (b, t), generator=gen)
        tone = torch.randint(0, 12, (b, t), generator=gen)
        language = torch.randint(0, 3, (b, t), generator=gen)
        lengths = torch.tensor([11, 8])
        bert, ja_bert, en_bert = randn(b, 1024, t), randn(b, 1024, t), randn(b, 1024, t)
        g = randn(b, 8, 1)
        h, m, logs, x_mask = enc_p(ids, lengths, tone, language, bert, ja_bert, en_bert, g=g)
        put(out, "enc_p", "x", ids=ids, lengths=lengths, tone=tone, language=language, bert=bert, ja_bert=ja_bert,
            en_bert=en_bert, g=g, h=h, m=m, logs=logs, x_mask=x_mask)

        # PosteriorEncoder; its only draw is randn_like(m).
        enc_q = models.PosteriorEncoder(20, 6, 16, 5, 2, 3, gin_channels=8).eval()
        perturb(enc_q, gen, rules=POST)
        put_weights(out, "enc_q", enc_q)
        y, lengths, g = randn(2, 20, 17), torch.tensor([17, 12]), randn(2, 8, 1)
        torch.manual_seed(EPS_SEED)
        z, m, logs, y_mask = enc_q(y, lengths, g=g)
        torch.manual_seed(EPS_SEED)
        eps = torch.randn(m.shape)
        assert torch.equal(z, (m + eps * torch.exp(logs)) * y_mask), "the posterior sample drew something else"
        put(out, "enc_q", "x", y=y, lengths=lengths, g=g, z=z, m=m, logs=logs, y_mask=y_mask, eps=eps,
            seed=torch.tensor([EPS_SEED], dtype=torch.int64))
        x, mask, g = randn(2, 16, 17), mask_of([17, 9], 17), randn(2, 8, 1)
        put(out, "enc_q", "wn", x=x, mask=mask, g=g, out=enc_q.enc(x, mask, g=g), out_nog=enc_q.enc(x, mask))

        # Flows: forward, reverse, and reverse of forward, on padded batches with non-zero padding.
        flow = models.TransformerCouplingBlock(8, 16, 32, 2, 3, 5, 0.1, n_flows=2, gin_channels=8).eval()
        rflow = models.ResidualCouplingBlock(8, 16, 5, 1, 2, n_flows=2, gin_channels=8).eval()
        for prefix, block in [("flow", flow), ("rflow", rflow)]:
            perturb(block, gen, rules=POST)
            put_weights(out, prefix, block)
            x, mask, g = randn(2, 8, 17), mask_of([17, 12], 17), randn(2, 8, 1)
            fwd = block(x, mask, g=g)
            put(out, prefix, "x", x=x, mask=mask, g=g, fwd=fwd, rev_of_fwd=block(fwd, mask, g=g, reverse=True),
                rev=block(x, mask, g=g, reverse=True), fwd_nog=block(x, mask))

        rcl = modules.ResidualCouplingLayer(8, 8, 3, 2, 2, mean_only=False).eval()
        tcl = modules.TransformerCouplingLayer(4, 8, 3, 1, 2, 0.0, 16, mean_only=False).eval()
        for prefix, layer, c in [("rcl", rcl, 8), ("tcl", tcl, 4)]:
            perturb(layer, gen, rules=POST)
            put_weights(out, prefix, layer)
            x, mask = randn(2, c, 9), mask_of([9, 5], 9)
            fwd, logdet = layer(x, mask)
            put(out, prefix, "x", x=x, mask=mask, fwd=fwd, logdet=logdet, rev=layer(x, mask, reverse=True))

    save_fixture(out, "bert_vits2_encoder.safetensors")

    # Key names and shapes at the shipped config's sizes.
    real = [
        ("enc_p", models.TextEncoder(112, 192, 192, 768, 2, 6, 3, 0.1, gin_channels=512)),
        ("enc_q", models.PosteriorEncoder(1025, 192, 192, 5, 1, 16, gin_channels=512)),
        ("flow", models.TransformerCouplingBlock(192, 192, 768, 2, 4, 5, 0.1, 4, gin_channels=512)),
        ("rflow", models.ResidualCouplingBlock(192, 192, 5, 1, 4, n_flows=4, gin_channels=512)),
    ]
    lines = [line for prefix, module in real for line in key_lines(module, f"{prefix}.")]
    write_lines(lines, "bert_vits2_encoder_keys.txt")


if __name__ == "__main__":
    main()

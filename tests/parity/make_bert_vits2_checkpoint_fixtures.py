"""Makes the checkpoint-exchange fixture of chord's Bert-VITS2 model files from fishaudio/Bert-VITS2 8f7fbd8
and checks the way back into the reference. Bert-VITS2 is not a pip package: pass the folder of a checkout
(imported through bert_vits2_reference.py, never copied).

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_bert_vits2_checkpoint_fixtures.py /tmp/bv2
    # after build/tests/chord_vits_checkpoints "[checkpoints]" has written chord's own G file:
    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_bert_vits2_checkpoint_fixtures.py /tmp/bv2 \
        --chord-file build/tests/output/bert_vits2_checkpoints_reference/G_7.safetensors

The small configuration (mirrored by `small_options()` in tests/bert_vits2/test_checkpoints.cpp):
`models.SynthesizerTrn(112, spec_channels 65, segment 32, inter 8, hidden 8, filter 16, n_heads 2, n_layers 3,
kernel 3, p_dropout 0.1, resblock "2", kernels [3], dilations [[1, 3]], upsample [4, 4], initial 16, kernels [8, 8],
n_speakers 3, gin 8, n_layers_trans_flow 3, n_flow_layer 2, use_spk_conditioned_encoder, use_noise_scaled_mas)`;
the reference hard-codes the PosteriorEncoder's 16 WN layers (kernel 5) and the DurationPredictor's 256 filter
channels (the SDP's 192 is overridden by in_channels inside the class), so those stay at full size: 612 tensors,
270 497 values (1.08 MB).

1. Builds it (seed below), moves every `weight_g` off ‖weight_v‖ and LayerNorm gamma/beta off 1/0 (so a load
   that kept init values cannot pass), writes it with the reference's own `utils.save_checkpoint` (AdamW state
   included, iteration 7) as `G_1000.pth` in a temporary folder, converts it with
   scripts/convert_bert_vits2.py `to-safetensors` to `tests/fixtures/bert_vits2_G_small.safetensors`
   (metadata step 1000, epoch 7, learning_rate 0.0002).
2. Converts that file back with `to-pth` and loads it with the reference's `utils.load_checkpoint` into a fresh
   SynthesizerTrn, with skip_optimizer true (the config's) and false (an AdamW given): every tensor equal, no
   "is not in the checkpoint" error logged, iteration 7 and learning rate 2e-4 returned.
3. Writes `tests/fixtures/bert_vits2_checkpoint_keys.txt`: one line `<file prefix> <key> <d0,d1,...>` per
   state-dict entry of the four networks train_ms.py saves, at the shipped config (configs/config.json, 850
   speakers): G = SynthesizerTrn, D = MultiPeriodDiscriminator(False), DUR = DurationDiscriminator(192, 192, 3,
   0.1, gin 512), WD = WavLMDiscriminator(768, 13, 64) (`net_wd`, without the WavLM).
4. With `--chord-file`: the same for a G file chord wrote (the C++ test's small model): `to-pth`, then
   `utils.load_checkpoint` into a reference SynthesizerTrn at the small configuration; every reference key is
   found with its shape and the loaded tensors equal the file's.
"""
import argparse
import logging
import os
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open

from bert_vits2_reference import OUT, check_versions, key_lines, load, perturb, seeded, write_lines

SEED = 20261130
HERE = os.path.dirname(os.path.abspath(__file__))
CONVERTER = os.path.join(HERE, "..", "..", "scripts", "convert_bert_vits2.py")
FIXTURE = os.path.join(OUT, "bert_vits2_G_small.safetensors")
KEYS = os.path.join(OUT, "bert_vits2_checkpoint_keys.txt")


def small_synthesizer(models):
    return models.SynthesizerTrn(
        112, 65, 32, inter_channels=8, hidden_channels=8, filter_channels=16, n_heads=2, n_layers=3, kernel_size=3,
        p_dropout=0.1, resblock="2", resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], upsample_rates=[4, 4],
        upsample_initial_channel=16, upsample_kernel_sizes=[8, 8], n_speakers=3, gin_channels=8, n_layers_trans_flow=3,
        n_flow_layer=2, use_spk_conditioned_encoder=True, use_noise_scaled_mas=True)


def convert(direction, source, target):
    subprocess.run([sys.executable, CONVERTER, direction, source, target], check=True)


class ErrorCount(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def load_into_reference(utils, models, pth, expected, skip_optimizer):
    """utils.load_checkpoint into a fresh small SynthesizerTrn; asserts every tensor equals `expected`."""
    torch.manual_seed(SEED + 1)  # a different init: a key that did not load would differ
    net = small_synthesizer(models)
    optimizer = torch.optim.AdamW(net.parameters(), 2e-4, betas=(0.8, 0.99), eps=1e-9)
    errors = ErrorCount()
    logging.getLogger("utils").addHandler(errors)
    try:
        _, _, learning_rate, iteration = utils.load_checkpoint(pth, net, optimizer, skip_optimizer=skip_optimizer)
    finally:
        logging.getLogger("utils").removeHandler(errors)
    assert not errors.messages, f"{len(errors.messages)} load errors, first: {errors.messages[:3]}"
    state = net.state_dict()
    assert set(state) == set(expected), (set(state) ^ set(expected))
    worst = max((state[k] - expected[k]).abs().max().item() for k in state)
    assert worst == 0.0, worst
    return iteration, learning_rate


def write_full_size_keys(checkout, models):
    """The key and shape lists of G_, D_, DUR_ and WD_ files at the 2.3 sizes (nothing is run or saved)."""
    import json
    with open(os.path.join(checkout, "configs", "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    hps_model, data, train = config["model"], config["data"], config["train"]
    torch.manual_seed(SEED)
    networks = {
        "G": models.SynthesizerTrn(112, data["filter_length"] // 2 + 1, train["segment_size"] // data["hop_length"],
                                   n_speakers=data["n_speakers"], mas_noise_scale_initial=0.01, noise_scale_delta=2e-6,
                                   **hps_model),
        "D": models.MultiPeriodDiscriminator(hps_model["use_spectral_norm"]),
        "DUR": models.DurationDiscriminator(hps_model["hidden_channels"], hps_model["hidden_channels"], 3, 0.1,
                                            gin_channels=hps_model["gin_channels"]),
        "WD": models.WavLMDiscriminator(hps_model["slm"]["hidden"], hps_model["slm"]["nlayers"],
                                        hps_model["slm"]["initial_channel"]),
    }
    lines = [line for prefix, net in networks.items() for line in key_lines(net, f"{prefix} ")]
    write_lines(lines, KEYS)
    print(f"n_speakers {data['n_speakers']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkout")
    parser.add_argument("--chord-file", help="a G_<step>.safetensors written by chord at the small configuration")
    args = parser.parse_args()
    check_versions({"safetensors": "0.8"})
    load(args.checkout)
    import models  # noqa: E402  (after load() installed the stub text module)
    import utils  # noqa: E402

    write_full_size_keys(args.checkout, models)
    with tempfile.TemporaryDirectory() as tmp:
        gen = seeded(SEED)
        net = small_synthesizer(models)
        perturb(net, gen)
        optimizer = torch.optim.AdamW(net.parameters(), 2e-4, betas=(0.8, 0.99), eps=1e-9)
        pth = os.path.join(tmp, "G_1000.pth")
        utils.save_checkpoint(net, optimizer, 2e-4, 7, pth)
        convert("to-safetensors", pth, FIXTURE)
        reference = {k: v.clone() for k, v in net.state_dict().items()}
        with safe_open(FIXTURE, framework="pt") as f:
            metadata = f.metadata()
            assert set(f.keys()) == set(reference)
            assert all(torch.equal(f.get_tensor(k), reference[k]) for k in reference)
        assert metadata["step"] == "1000" and metadata["epoch"] == "7" and metadata["prefix"] == "G", metadata
        print(f"{FIXTURE}: {len(reference)} tensors, {os.path.getsize(FIXTURE)} bytes, metadata {metadata}")

        back = os.path.join(tmp, "G_1000_back.pth")
        convert("to-pth", FIXTURE, back)
        for skip in (True, False):
            iteration, learning_rate = load_into_reference(utils, models, back, reference, skip)
            assert iteration == 7 and learning_rate == 2e-4, (iteration, learning_rate)
            print(f"reference utils.load_checkpoint(skip_optimizer={skip}) of the round trip: every tensor equal")

        if args.chord_file:
            with safe_open(args.chord_file, framework="pt") as f:
                chord_state = {k: f.get_tensor(k) for k in f.keys()}
                chord_metadata = f.metadata()
            chord_pth = os.path.join(tmp, "G_chord.pth")
            convert("to-pth", args.chord_file, chord_pth)
            for skip in (True, False):
                iteration, _ = load_into_reference(utils, models, chord_pth, chord_state, skip)
                print(f"reference utils.load_checkpoint(skip_optimizer={skip}) of chord's {args.chord_file}: "
                      f"{len(chord_state)} tensors, every tensor equal, iteration {iteration} (metadata {chord_metadata})")


if __name__ == "__main__":
    main()

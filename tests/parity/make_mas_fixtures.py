"""Makes the monotonic-alignment-search fixture from Bert-VITS2's own kernel (numba `maximum_path_jit`,
fishaudio/Bert-VITS2 8f7fbd8, `monotonic_align/`), which is not a pip package: pass the folder of a
checkout (it is imported from there, never copied).

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_mas_fixtures.py <Bert-VITS2 checkout>

Writes `mas_bert_vits2.safetensors` with, for case i in 0..N-1:
  neg_cent_i  float32 [B, T_frames, T_tokens]  scores (normal, integer-valued with many ties, or cells
              near -1e8 where the -1e9 stand-in for minus infinity matters);
  mask_i      uint8   [B, T_frames, T_tokens]  1 on the valid frames x tokens of each item;
  path_i      uint8   [B, T_frames, T_tokens]  `monotonic_align.maximum_path(neg_cent, mask)`.
Most items have at least as many frames as tokens; a few have more tokens than frames (no alignment
exists; the reference's path is then defined only by its numpy index wrap-around, which chord mirrors).
"""
import os
import sys
from importlib.metadata import version

import torch
from safetensors.torch import save_file

PINNED = {"torch": "2.11.0", "numba": "0.68"}
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")


def check_versions():
    for package, wanted in PINNED.items():
        got = version(package)
        if not got.startswith(wanted):
            sys.exit(f"{package} {got} installed, fixtures are pinned to {wanted}")


def make_case(gen, kind, batch, frames, tokens, allow_short):
    if kind == "normal":
        scores = torch.randn(batch, frames, tokens, generator=gen) * 3.0
    elif kind == "ties":
        scores = torch.randint(-3, 1, (batch, frames, tokens), generator=gen).float()
    else:  # "deep": cumulative sums pass -1e9, where -1e9 and -inf choose differently
        scores = -1e8 * (1.0 + torch.rand(batch, frames, tokens, generator=gen))
    mask = torch.zeros(batch, frames, tokens)
    for b in range(batch):
        t_y = int(torch.randint(1, frames + 1, (1,), generator=gen))
        high = tokens if allow_short else min(tokens, t_y)
        t_x = int(torch.randint(1, high + 1, (1,), generator=gen))
        mask[b, :t_y, :t_x] = 1.0
    return scores, mask


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    check_versions()
    sys.path.insert(0, os.path.abspath(sys.argv[1]))
    from monotonic_align import maximum_path  # noqa: E402  (Bert-VITS2's package)

    gen = torch.Generator().manual_seed(20261130)
    tensors = {}
    shapes = [(1, 1, 1), (1, 5, 5), (2, 7, 3), (3, 40, 12), (4, 64, 16), (2, 130, 33), (1, 300, 75), (5, 23, 23)]
    index = 0
    for kind in ("normal", "ties", "deep"):
        for batch, frames, tokens in shapes:
            scores, mask = make_case(gen, kind, batch, frames, tokens, allow_short=False)
            tensors[f"neg_cent_{index}"] = scores.contiguous()
            tensors[f"mask_{index}"] = mask.to(torch.uint8).contiguous()
            tensors[f"path_{index}"] = maximum_path(scores.clone(), mask).to(torch.uint8).contiguous()
            index += 1
    for batch, frames, tokens in [(2, 6, 9), (3, 10, 14)]:
        scores, mask = make_case(gen, "normal", batch, frames, tokens, allow_short=True)
        tensors[f"neg_cent_{index}"] = scores.contiguous()
        tensors[f"mask_{index}"] = mask.to(torch.uint8).contiguous()
        tensors[f"path_{index}"] = maximum_path(scores.clone(), mask).to(torch.uint8).contiguous()
        index += 1
    path = os.path.join(OUT, "mas_bert_vits2.safetensors")
    save_file(tensors, path)
    print(f"wrote {index} cases to {path}")


if __name__ == "__main__":
    main()

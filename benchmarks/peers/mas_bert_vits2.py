"""Side-by-side peer of BM_MaximumPath: Bert-VITS2's numba `monotonic_align.maximum_path` (imported from
a checkout of fishaudio/Bert-VITS2, passed as the argument) on the same sizes: B 16, T_text 128 and 256,
4·T_text frames, standard-normal scores, every cell valid. The first call (numba's compilation) is not
timed.

    ~/.cache/chord/reference-torch-2.11.0/bin/python benchmarks/peers/mas_bert_vits2.py <Bert-VITS2 checkout>
"""
import os
import sys
import time

import torch


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.path.insert(0, os.path.abspath(sys.argv[1]))
    from monotonic_align import maximum_path  # noqa: E402  (Bert-VITS2's package)

    for tokens in (128, 256):
        scores = torch.randn(16, 4 * tokens, tokens, generator=torch.Generator().manual_seed(0))
        mask = torch.ones_like(scores)
        maximum_path(scores, mask)
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < 3.0:
            maximum_path(scores, mask)
            runs += 1
        seconds = (time.perf_counter() - start) / runs
        print(f"Bert-VITS2 numba maximum_path, B 16, T_text {tokens}, T_frames {4 * tokens}: {seconds * 1e3:.2f} ms")


if __name__ == "__main__":
    main()

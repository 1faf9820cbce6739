"""Reads the TensorBoard event file chord's tests leave in build/tests/output with the `tensorboard`
package, proving chord's hand-written event files are real ones. Outside CI (needs the reference venv):

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/check_tensorboard.py build/tests/output
"""
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main(directory):
    accumulator = EventAccumulator(directory)
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    assert {"train/loss", "train/lr", "train/grad_norm", "valid/loss"} <= set(tags), tags
    loss = accumulator.Scalars("train/loss")
    assert [e.step for e in loss] == [1, 2, 3, 4, 5, 6], [e.step for e in loss]
    assert accumulator.Scalars("valid/loss")[0].value == 0.5
    print(f"OK: TensorBoard read {len(tags)} scalar tags, {len(loss)} loss points: "
          + ", ".join(f"{e.value:.4f}" for e in loss))


if __name__ == "__main__":
    main(sys.argv[1])

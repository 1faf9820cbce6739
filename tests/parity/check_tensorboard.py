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
    images, audio = accumulator.Tags()["images"], accumulator.Tags()["audio"]
    assert images == ["eval/mel"] and audio == ["eval/audio"], (images, audio)
    picture = accumulator.Images("eval/mel")[0]
    assert (picture.step, picture.width, picture.height) == (6, 3, 2), picture
    assert picture.encoded_image_string.startswith(b"\x89PNG"), picture.encoded_image_string[:8]
    sound = accumulator.Audio("eval/audio")[0]
    assert (sound.step, sound.sample_rate, sound.length_frames, sound.content_type) == (6, 22050, 441, "audio/wav"), sound
    print(f"OK: TensorBoard read {len(tags)} scalar tags, an image and a sound; {len(loss)} loss points: "
          + ", ".join(f"{e.value:.4f}" for e in loss))


if __name__ == "__main__":
    main(sys.argv[1])

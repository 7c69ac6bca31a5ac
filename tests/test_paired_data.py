"""Paired HR/LR folders (``--lr-data``): matching by name, the exact-size check, aligned crops with the
same flips/rotations, and the training step using the given LR."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import smooth_image
from PIL import Image

from keras_srgan.data.images import PairRecord, scan_pairs
from keras_srgan.data.pipeline import augment_pair, train_dataset
from keras_srgan.errors import UserError
from keras_srgan.train.config import TrainConfig
from keras_srgan.train.trainer import build_model


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _block_pair(lr_h: int, lr_w: int, scale: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An HR whose scale x scale block means are exactly the LR pixels (integer means, uint8 range).

    Each HR block is its LR pixel plus a zero-mean pattern that differs between blocks, so an HR crop
    averages to the LR crop only when it is aligned to the blocks and flipped/rotated the same way.
    """
    rng = np.random.default_rng(seed)
    lr = rng.integers(40, 216, (lr_h, lr_w, 3)).astype(np.int32)
    hr = np.kron(lr, np.ones((scale, scale, 1), np.int32))
    for i in range(lr_h):
        for j in range(lr_w):
            pattern = rng.integers(-30, 31, (scale, scale, 3))
            hr[i * scale : (i + 1) * scale, j * scale : (j + 1) * scale] += pattern - np.round(
                pattern.mean(axis=(0, 1))
            ).astype(np.int32)
            # make the block sum exact: put the rounding remainder on the first pixel
            block = hr[i * scale : (i + 1) * scale, j * scale : (j + 1) * scale]
            block[0, 0] += lr[i, j] * scale * scale - block.sum(axis=(0, 1))
    assert hr.min() >= 0 and hr.max() <= 255
    return hr.astype(np.uint8), lr.astype(np.uint8)


def _block_means(hr: np.ndarray, scale: int) -> np.ndarray:
    h, w, c = hr.shape
    return hr.reshape(h // scale, scale, w // scale, scale, c).astype(np.float64).mean(axis=(1, 3))


@pytest.fixture
def pairs(tmp_path):
    """HR/a.png + LR/a.png, HR/b.png + LR/bx4.jpg-style name (as PNG), an unmatched file on each side."""
    hr_dir, lr_dir = tmp_path / "HR", tmp_path / "LR"
    for name, lr_name, seed in (("a", "a.png", 0), ("b", "bx4.png", 1)):
        hr, lr = _block_pair(12, 10, 4, seed)
        _save(hr_dir / f"{name}.png", hr)
        _save(lr_dir / lr_name, lr)
    _save(hr_dir / "only_hr.png", smooth_image(48, 40))
    _save(lr_dir / "only_lr.png", smooth_image(12, 10))
    return hr_dir, lr_dir


def test_matches_by_name_and_lists_unmatched_files(pairs):
    hr_dir, lr_dir = pairs
    with pytest.warns(UserWarning) as record:
        records = scan_pairs([hr_dir], [lr_dir], scale=4, min_size=32)
    assert [(Path(r.path).name, Path(r.lr_path).name) for r in records] == [
        ("a.png", "a.png"),
        ("b.png", "bx4.png"),
    ]
    assert all(r.scale == 4 and (r.width, r.height) == (40, 48) for r in records)
    messages = [str(w.message) for w in record]
    assert any("1 HR image(s)" in m and "only_hr.png" in m for m in messages), messages
    assert any("1 LR image(s)" in m and "only_lr.png" in m for m in messages), messages


def test_an_lr_that_is_not_exactly_hr_over_scale_is_one_error_naming_the_pair(pairs):
    hr_dir, lr_dir = pairs
    _save(lr_dir / "a.png", smooth_image(12, 11))  # one column too many
    with pytest.warns(UserWarning), pytest.raises(UserError) as info:
        scan_pairs([hr_dir], [lr_dir], scale=4)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert str(lr_dir / "a.png") in message and str(hr_dir / "a.png") in message
    assert "LR is 11x12" in message and "HR / 4 (10x12)" in message
    # an HR that is no multiple of the scale cannot have an exact LR: the message says what to do
    _save(hr_dir / "a.png", smooth_image(49, 40))
    with pytest.warns(UserWarning), pytest.raises(UserError, match="crop the HR to a multiple of 4"):
        scan_pairs([hr_dir], [lr_dir], scale=4)


def test_other_pairing_problems(pairs, tmp_path):
    hr_dir, lr_dir = pairs
    with pytest.raises(UserError, match="one LR folder per --data folder"):
        scan_pairs([hr_dir, hr_dir], [lr_dir], scale=4)
    _save(lr_dir / "a.jpg", smooth_image(12, 10))
    with pytest.raises(
        UserError, match="a.jpg and a.png have the same name|a.png and a.jpg have the same name"
    ):
        scan_pairs([hr_dir], [lr_dir], scale=4)
    (lr_dir / "a.jpg").unlink()
    (lr_dir / "a.png").write_bytes(b"not a png")  # an unreadable LR skips its pair, with the reason
    with pytest.warns(UserWarning) as record:
        records = scan_pairs([hr_dir], [lr_dir], scale=4)
    assert [Path(r.path).name for r in records] == ["b.png"]
    assert any("skipping the pair a.png / a.png" in str(w.message) for w in record)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.warns(UserWarning), pytest.raises(UserError, match="no usable HR/LR pairs"):
        scan_pairs([hr_dir], [empty], scale=4)


@pytest.mark.parametrize("scale", [2, 4])
def test_crops_are_aligned_and_flipped_and_rotated_together(scale):
    """The block means of every HR crop equal its LR crop: an independent check of offset, flip and rotation."""
    hr, lr = _block_pair(14, 11, scale, seed=scale)
    patch = 6 * scale
    seen = set()
    for i in range(40):
        hr_crop, lr_crop = augment_pair(tf.constant(hr), tf.constant(lr), patch, scale, tf.constant([i, 7]))
        hr_crop, lr_crop = hr_crop.numpy(), lr_crop.numpy()
        assert hr_crop.shape == (patch, patch, 3) and lr_crop.shape == (6, 6, 3)
        np.testing.assert_array_equal(_block_means(hr_crop, scale), lr_crop)  # exact: integer means
        # which (flip, rotation) was used: find the LR crop in the transformed LR image
        for k in range(4):
            for flip in (False, True):
                view = np.rot90(lr_crop, -k)
                view = view[:, ::-1] if flip else view
                rows = [
                    y
                    for y in range(14 - 5)
                    for x in range(11 - 5)
                    if np.array_equal(lr[y : y + 6, x : x + 6], view)
                ]
                if rows:
                    seen.add((k, flip))
    assert len(seen) >= 6  # the flips and rotations do vary (8 combinations, 40 draws)


def test_a_misaligned_crop_would_be_caught():
    """The check above can fail: an HR crop one pixel off its block grid does not average to the LR."""
    hr, lr = _block_pair(8, 8, 4, seed=3)
    shifted = hr[1:25, 0:24]
    assert not np.array_equal(_block_means(shifted, 4), lr[0:6, 0:6])


def test_dataset_yields_aligned_pair_batches_deterministically(pairs):
    hr_dir, lr_dir = pairs
    with pytest.warns(UserWarning):
        records = scan_pairs([hr_dir], [lr_dir], scale=4, min_size=32)
    ds = train_dataset([hr_dir], patch_size=32, batch_size=3, seed=5, records=records)
    (hr_a, lr_a), (hr_b, lr_b) = list(ds.take(2))
    assert hr_a.shape == (3, 32, 32, 3) and lr_a.shape == (3, 8, 8, 3) and hr_a.dtype == tf.uint8
    for hr, lr in ((hr_a, lr_a), (hr_b, lr_b)):
        for n in range(3):
            np.testing.assert_array_equal(_block_means(hr[n].numpy(), 4), lr[n].numpy())
    again = next(iter(train_dataset([hr_dir], patch_size=32, batch_size=3, seed=5, records=records)))
    np.testing.assert_array_equal(again[0], hr_a)
    np.testing.assert_array_equal(again[1], lr_a)


def test_the_step_uses_the_given_lr_and_degrades_otherwise():
    cfg = TrainConfig(data=["unused"], num_blocks=2, filters=8, patch_size=32, mixed_precision="off")
    model = build_model(cfg)
    hr = tf.constant(np.stack([smooth_image(32, 32, seed=i) for i in range(2)]))
    given = tf.constant(np.full((2, 8, 8, 3), 17, np.uint8))
    lr, hr01 = model.make_pair((hr, given))
    np.testing.assert_array_equal(lr.numpy(), np.full((2, 8, 8, 3), 17 / 255, np.float32))
    np.testing.assert_array_equal(hr01.numpy(), hr.numpy() / np.float32(255))
    degraded, _ = model.make_pair(hr)
    assert degraded.shape == (2, 8, 8, 3) and not np.allclose(degraded.numpy(), 17 / 255)
    logs = tf.function(model.train_step)((hr, given))
    assert np.isfinite(float(logs["g_loss"]))


def test_fit_and_cli_train_on_pairs(pairs, tmp_path, capsys):
    from keras_srgan import fit
    from keras_srgan.cli import main

    hr_dir, lr_dir = pairs
    tiny = {"num_blocks": 2, "filters": 8, "batch_size": 2, "patch_size": 32, "log_every": 1,
            "checkpoint_every": 2, "mixed_precision": "off"}  # fmt: skip
    with pytest.warns(UserWarning, match="no LR image"):
        result = fit(data=[str(hr_dir)], lr_data=[str(lr_dir)], out=str(tmp_path / "run"), steps=2, **tiny)
    assert result.final_step == 2 and len(result.history["g_loss"]) == 2
    saved = json.loads(result.config_path.read_text())
    assert saved["lr_data"] == [str(lr_dir)]
    assert json.loads(result.generator_config.read_text())["lr_data"] == ["LR"]
    # the CLI: a mismatched pair is one error line before training starts
    _save(lr_dir / "b.png", smooth_image(9, 10))
    (lr_dir / "bx4.png").unlink()
    capsys.readouterr()
    code = main(["train", "--data", str(hr_dir), "--lr-data", str(lr_dir), "--out", str(tmp_path / "cli"),
                 "--steps", "1", "--num-blocks", "2", "--filters", "8", "--patch-size", "32"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "b.png: LR is 10x9" in errors[0], err
    assert not (tmp_path / "cli").exists()


def test_config_refuses_unequal_folder_counts():
    with pytest.raises(UserError, match="one LR folder per --data folder"):
        TrainConfig(data=["a", "b"], lr_data=["c"])
    assert TrainConfig(data="a", lr_data="c").lr_data == ["c"]
    assert isinstance(PairRecord("h", "l", 8, 8, 4), PairRecord)

"""tf.data pipelines of HR images: random training crops and fixed validation crops (uint8).

Only decoding, cropping and flips/rotations happen here; the HR -> LR degradation runs batched inside
the training step on the device (see ``keras_srgan.data.degradation``). With paired data (``--lr-data``)
the batches are (HR, LR) tuples of aligned crops and the step uses the given LR instead.
"""

from __future__ import annotations

import os

import tensorflow as tf

from keras_srgan.data.images import ImageRecord, PairRecord, scan_images

AUTOTUNE = tf.data.AUTOTUNE
DEFAULT_CACHE_BYTES = 4 << 30  # decoded images are cached in memory up to this size


def _path_bytes(records: list[ImageRecord]) -> list[bytes]:
    """File names as the OS's bytes: a non-UTF-8 name (kept by Python as surrogates) cannot be a str tensor."""
    return [os.fsencode(r.path) for r in records]


def decode_rgb(path: tf.Tensor) -> tf.Tensor:
    """Read and decode PNG/JPEG/BMP in the graph; grayscale and RGBA become RGB uint8."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, dtype=tf.uint8, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def augment(image: tf.Tensor, patch_size: int, seed: tf.Tensor) -> tf.Tensor:
    """A random ``patch_size`` crop with a random flip and 90-degree rotation (stateless, seeded)."""
    crop_seed, flip_seed, rot_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    patch = tf.image.stateless_random_crop(image, [patch_size, patch_size, 3], crop_seed)
    patch = tf.image.stateless_random_flip_left_right(patch, flip_seed)
    k = tf.random.stateless_uniform([], rot_seed, 0, 4, dtype=tf.int32)
    return tf.image.rot90(patch, k)


def augment_pair(hr: tf.Tensor, lr: tf.Tensor, patch_size: int, scale: int, seed: tf.Tensor):
    """Aligned random crops of an (HR, LR) pair with the same flip and rotation.

    The LR crop (``patch_size // scale``) starts anywhere; the HR crop starts at ``scale`` times that
    offset, so HR pixel ``scale * i + j`` (0 <= j < scale) lies over LR pixel ``i`` in both crops.
    """
    y_seed, x_seed, flip_seed, rot_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    lr_patch = patch_size // scale
    shape = tf.shape(lr)
    y = tf.random.stateless_uniform([], y_seed, 0, shape[0] - lr_patch + 1, dtype=tf.int32)
    x = tf.random.stateless_uniform([], x_seed, 0, shape[1] - lr_patch + 1, dtype=tf.int32)
    lr = lr[y : y + lr_patch, x : x + lr_patch]
    hr = hr[scale * y : scale * y + patch_size, scale * x : scale * x + patch_size]
    flip = tf.random.stateless_uniform([], flip_seed) < 0.5
    lr = tf.cond(flip, lambda: tf.image.flip_left_right(lr), lambda: lr)
    hr = tf.cond(flip, lambda: tf.image.flip_left_right(hr), lambda: hr)
    k = tf.random.stateless_uniform([], rot_seed, 0, 4, dtype=tf.int32)
    hr, lr = tf.image.rot90(hr, k), tf.image.rot90(lr, k)
    hr.set_shape([patch_size, patch_size, 3])
    lr.set_shape([lr_patch, lr_patch, 3])
    return hr, lr


def train_dataset(
    folders: list[str | os.PathLike],
    patch_size: int = 96,
    batch_size: int = 16,
    seed: int = 0,
    cache: bool | None = None,
    records: list[ImageRecord] | list[PairRecord] | None = None,
    skip_batches: int = 0,
) -> tf.data.Dataset:
    """Endless batches [batch_size, patch, patch, 3] uint8 of random HR crops.

    With ``PairRecord`` records (``scan_pairs``): endless (HR, LR) batches of aligned crops, LR
    [batch_size, patch / scale, patch / scale, 3]. ``cache=None`` caches decoded images in memory when
    they fit in ``DEFAULT_CACHE_BYTES``. ``seed`` fixes the order and the crops. ``skip_batches``: start
    at that batch of the stream, as a resumed run does to see exactly what an uninterrupted one would
    (skipped before cropping, so it costs little: about 1 s per 10,000 batches of 16).
    """
    records = records if records is not None else scan_images(folders, min_size=patch_size)
    paired = bool(records) and isinstance(records[0], PairRecord)
    scale = records[0].scale if paired else 1
    if cache is None:
        per_pixel = 3 * (1 + 1 / scale**2) if paired else 3
        cache = sum(r.width * r.height * per_pixel for r in records) <= DEFAULT_CACHE_BYTES
    if paired:
        paths = tf.data.Dataset.from_tensor_slices(
            (_path_bytes(records), [os.fsencode(r.lr_path) for r in records])
        )
        images = paths.map(lambda hr, lr: (decode_rgb(hr), decode_rgb(lr)), num_parallel_calls=AUTOTUNE)
    else:
        paths = tf.data.Dataset.from_tensor_slices(_path_bytes(records))
        images = paths.map(decode_rgb, num_parallel_calls=AUTOTUNE)
    if cache:
        images = images.cache()
    images = images.repeat().shuffle(len(records), seed=seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed).batch(2)  # an endless stream of stateless seed pairs

    def crop(image, s):
        if paired:
            return augment_pair(image[0], image[1], patch_size, scale, s)
        return augment(image, patch_size, s)

    # Deterministic order: the same seed gives the same batches, which multi-worker data sharding (every
    # worker builds this stream and keeps its share), resume and reproducible runs rely on.
    patches = (
        tf.data.Dataset.zip(images, seeds)
        .skip(skip_batches * batch_size)
        .map(crop, num_parallel_calls=AUTOTUNE, deterministic=True)
    )
    return patches.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def validation_dataset(
    folders: list[str | os.PathLike], crop_size: int = 192, batch_size: int = 8
) -> tf.data.Dataset:
    """Centre crops of ``crop_size`` (a fixed shape: one traced graph), uint8, finite."""
    records = scan_images(folders, min_size=crop_size)  # raises when there is none

    def centre(image):
        return tf.image.resize_with_crop_or_pad(image, crop_size, crop_size)

    paths = tf.data.Dataset.from_tensor_slices(_path_bytes(records))
    return paths.map(decode_rgb).map(centre).batch(batch_size).cache().prefetch(AUTOTUNE)

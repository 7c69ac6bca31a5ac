"""An exponential moving average of the generator's weights (Real-ESRGAN keeps one with decay 0.999).

Why: the GAN stage moves G every step in answer to a moving D; the average of recent weights keeps the
textures and drops much of the step-to-step jitter that shows up as artifacts. Validation and the final
weights use the average; the raw generator keeps training.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class GeneratorEMA:
    """Shadow copy of a generator; ``update()`` after each step: shadow = decay * shadow + (1 - decay) * w.

    Trainable weights are averaged; the rest (BatchNorm moving statistics) are copied, so the shadow model
    is a consistent network. Create it inside the strategy scope; call ``update`` in cross-replica
    context (outside ``strategy.run``), where assigning a mirrored variable updates every replica.
    """

    def __init__(self, generator: keras.Model, build, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.source = generator
        self.model = build()
        self.model.set_weights(generator.get_weights())
        trainable = {id(v) for v in generator.trainable_variables}
        self._pairs = list(zip(self.model.weights, generator.weights, strict=True))
        self._averaged = [id(src) in trainable for _, src in self._pairs]
        self._update = tf.function(self._assign)

    def _assign(self) -> None:
        for (shadow, weight), averaged in zip(self._pairs, self._averaged, strict=True):
            value = tf.convert_to_tensor(weight)
            if averaged:
                value = self.decay * tf.convert_to_tensor(shadow) + (1.0 - self.decay) * value
            shadow.assign(tf.cast(value, shadow.dtype))

    def update(self) -> None:
        self._update()

"""Choosing a ``tf.distribute`` strategy for training: one device, mirrored, or multi-worker.

* ``default``: TensorFlow's default (no-op) strategy, one device.
* ``mirrored``: ``MirroredStrategy`` over all local GPUs; without GPUs, over ``cpu_replicas`` logical CPU
  devices (useful for testing the distributed code path; CPU replicas share the same cores).
* ``multiworker``: ``MultiWorkerMirroredStrategy`` configured by the standard ``TF_CONFIG`` variable.

Logical CPU devices and the multi-worker collective runtime can only be set up before TensorFlow
initialises its devices, so :func:`make_strategy` must run before anything creates a tensor.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from pathlib import Path

from keras_srgan.errors import UserError

STRATEGIES = ("default", "mirrored", "multiworker")
CPU_REPLICAS_ENV = "KERAS_SRGAN_CPU_REPLICAS"
DEFAULT_CPU_REPLICAS = 2


def configure_cpu_replicas(count: int) -> list[str]:
    """Split the host CPU into ``count`` logical devices (``MirroredStrategy`` needs one per replica);
    returns their names. Only possible before TensorFlow initialises its devices."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if not current or len(current) != count:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
            )
        except RuntimeError:
            have = len(tf.config.list_logical_devices("CPU"))
            if have < count:
                raise UserError(
                    f"cannot split the CPU into {count} logical devices: TensorFlow already initialised "
                    f"{have}; choose the strategy before any other TensorFlow work in this process (on the "
                    "command line, pass --strategy mirrored explicitly, also when resuming)"
                ) from None
    return [f"/cpu:{i}" for i in range(count)]


def make_strategy(name: str = "default", cpu_replicas: int | None = None):
    """The ``tf.distribute.Strategy`` for ``name``, created once per process: two live strategies over the
    same devices can mix up their collectives (seen as shape mismatches in synchronized BatchNorm), and a
    multi-worker strategy can only be created once anyway."""
    if name not in STRATEGIES:
        raise UserError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multiworker":
        return _shared(name, None)
    if cpu_replicas is None:  # $KERAS_SRGAN_CPU_REPLICAS, else 2 (mirrored strategy without GPUs)
        env = os.environ.get(CPU_REPLICAS_ENV)
        try:
            cpu_replicas = int(env) if env else DEFAULT_CPU_REPLICAS
        except ValueError:
            raise UserError(f"{CPU_REPLICAS_ENV}={env!r} is not an integer") from None
    if cpu_replicas < 1:
        raise UserError(f"cpu_replicas must be at least 1, got {cpu_replicas}")
    return _shared(name, cpu_replicas)


@functools.cache
def _shared(name: str, cpu_replicas: int | None):
    """One strategy per (name, replica count) for the process; a failed creation is not remembered."""
    import tensorflow as tf

    if name == "mirrored":
        if tf.config.list_physical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy(configure_cpu_replicas(cpu_replicas))
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserError(
            "--strategy multiworker needs the TF_CONFIG environment variable "
            '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", '
            '"index": 0}}); see docs/distributed.md'
        )
    try:
        config = json.loads(raw)
        config["cluster"], config["task"]["type"], config["task"]["index"]  # noqa: B018 (shape check)
    except (ValueError, KeyError, TypeError):
        raise UserError(
            f"TF_CONFIG is not valid JSON with 'cluster' and 'task' (got {raw[:200]!r})"
        ) from None
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as exc:
        hint = ""
        if "startup" in str(exc):
            hint = "; create it before any other TensorFlow work (on the command line, pass --strategy multiworker explicitly, also when resuming)"
        raise UserError(f"cannot start MultiWorkerMirroredStrategy from TF_CONFIG ({exc}){hint}") from None


def is_chief(strategy) -> bool:
    """Whether this process writes the run's files (the chief, or worker 0 of a chief-less cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type in (None, "", "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


class WorkerOutput:
    """Where this process writes: the run folder for the chief, a temporary folder for other workers.

    Every worker must take part in checkpoint saves (they read distributed variables), but only the
    chief's copy is kept; the others write to a scratch folder that :meth:`cleanup` deletes.
    """

    def __init__(self, run_dir: Path, strategy):
        self.chief = is_chief(strategy)
        self._scratch = None
        if not self.chief:  # only a multi-worker strategy (it has a cluster resolver) has non-chief workers
            resolver = strategy.cluster_resolver
            self._scratch = tempfile.mkdtemp(prefix=f"keras-srgan-{resolver.task_type}-{resolver.task_id}-")
        self.directory = Path(self._scratch or run_dir)

    def cleanup(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


def synchronize_batch_norm(*models) -> None:
    """Make BatchNormalization use global-batch statistics across replicas.

    Why: with per-replica statistics a 2-replica run normalises each half-batch on its own and so
    trains a different model than one device with the same global batch. Weights are unchanged.
    """
    from keras import layers  # here, not at the top: this module must not start TensorFlow on import

    for model in filter(None, models):
        for layer in nested_layers(model):
            if isinstance(layer, layers.BatchNormalization):
                layer.synchronized = True


def nested_layers(layer, seen: set[int] | None = None):
    """Every layer inside ``layer``, at any depth, each once: the attributes Keras tracks, read through
    public Python (Keras has no public recursive walk; a custom block's sublayers are not in ``.layers``)."""
    from keras import layers

    seen = set() if seen is None else seen
    for value in vars(layer).values():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, layers.Layer) and id(item) not in seen:
                seen.add(id(item))
                yield item
                yield from nested_layers(item, seen)

"""Training data: HR image discovery and validation, the tf.data crop pipeline, on-device degradation."""

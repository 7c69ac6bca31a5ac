"""Inference: the generator's speed-up transforms (``transforms``), the engines that run them (``engines``:
OpenVINO on a CPU, TensorFlow on a GPU or as the fallback), and images of any size tiled on the host."""

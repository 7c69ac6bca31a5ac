"""Inference: run the generator on real images of any size (tiling on the host)."""

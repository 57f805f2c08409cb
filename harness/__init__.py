"""TransferBench: a benchmark and evaluation harness for transfer and multi-task learning."""

import os

__version__ = "0.1.0"

# oneDNN (torch's CPU kernels for convolutions, GELU, ...) keeps up to 1,024 primitives, one per
# input shape, each holding buffers the size of its tensors. Dynamic padding makes every batch
# length a new shape: fine-tuning MiniLM on RTE grew by ~600 MB of cached primitives (3.3 GB
# peak instead of 2.7 GB). Sixteen keep a convolutional net's primitives (a CIFAR ResNet-56
# trains at the same speed; four or fewer cost it 7-12 %) and bound the growth elsewhere (frozen
# feature passes over text). oneDNN reads the variable when it first creates a primitive, so
# setting it here, after torch is imported, still counts; a value the user set wins. (Training
# a float32 model without convolutions on the CPU turns oneDNN off altogether:
# `harness.training._onednn_pays`.)
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")

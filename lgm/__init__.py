"""lgm: learning generative models — data, layers, VAEs, GANs, training and evaluation.

A side-effect-free library: importing it touches no files, no network and no W&B.
"""

__version__ = "0.1.0"

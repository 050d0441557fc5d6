"""Synthetic user-behavior data: schema detection, a conditional tabular GAN, an LM text writer,
a quality filter, and the pipeline that joins them. `python -m augment --help` lists the commands."""

__version__ = "0.1.0"

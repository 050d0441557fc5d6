"""Synthetic user-behavior data: schema detection, a conditional tabular GAN, an LM text writer,
a quality filter, a fidelity report and a downstream test of whether the synthetic rows help.

    from augment import Augmenter     # the Python API (augment/api.py)
    from augment import jobs          # every command-line job as a function (augment/jobs.py)

`python -m augment --help` lists the commands.
"""

__version__ = "0.1.0"
__all__ = ["Augmenter", "__version__"]


def __getattr__(name: str):
    # Imported on first use: `import augment` stays light (no torch) for the CLI's fast paths.
    if name == "Augmenter":
        from augment.api import Augmenter

        return Augmenter
    raise AttributeError(f"module 'augment' has no attribute {name!r}")

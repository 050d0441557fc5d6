"""Memory that torch frees goes back to the system: glibc's mmap threshold held at 4 MiB.

glibc serves a large allocation with mmap (returned to the system when freed) only above a
threshold, and raises that threshold after each large free, up to 32 MiB. A LoRA fit allocates and
frees tensors of a different size every step (batches of different lengths); once the threshold has
risen they come from the heap, which fragments and keeps gigabytes it no longer uses (measured in
reports/memory). A fixed threshold keeps large tensors on mmap. 4 MiB rather than glibc's starting
128 KiB: each mmap'd block is fresh pages the kernel must zero, and at 128 KiB the many mid-sized
tensors of a step halve the fit's speed for a few hundred MB.

Two more things grow a LoRA fit's memory step after step: oneDNN keeps a compiled primitive for
every shape it has seen (batches of different lengths are new shapes; its cache holds 1,024), and
the heap fragments between steps. So the primitive cache is held at 64 and each step hands the
heap's free pages back (`release_heap`, glibc's malloc_trim); reports/memory measures both.

Set AUGMENT_ALLOCATOR=glibc to keep the libraries' own behaviour; a MALLOC_MMAP_THRESHOLD_ or
ONEDNN_PRIMITIVE_CACHE_CAPACITY in the environment is the user's and is kept too.
"""

from __future__ import annotations

import ctypes
import functools
import os

M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
MMAP_THRESHOLD = 4 * 1024 * 1024  # held instead of raised; chosen in reports/memory
PRIMITIVE_CACHE = "64"  # oneDNN primitives kept; read once, when oneDNN makes its first primitive


def return_freed_memory() -> bool:
    """Cap oneDNN's primitive cache and fix glibc's mmap threshold for this process, before any
    torch work; False where the threshold is not held (not glibc, or the user chose)."""
    if os.environ.get("AUGMENT_ALLOCATOR") == "glibc":
        return False
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", PRIMITIVE_CACHE)
    libc = _glibc()
    if libc is None or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def release_heap() -> None:
    """Hand the heap's free pages back to the system (between the steps of a fit)."""
    libc = _glibc()
    if libc is not None and os.environ.get("AUGMENT_ALLOCATOR") != "glibc":
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not Linux with glibc (macOS, Windows, musl): their allocators behave otherwise
        return None
    return libc if hasattr(libc, "malloc_trim") else None

"""Memory that torch frees goes back to the system: glibc's mmap threshold held at 128 KiB.

glibc serves a large allocation with mmap (returned to the system when freed) only above a
threshold, and raises that threshold after each large free, up to 32 MiB. A LoRA fit allocates and
frees tensors of a different size every step (batches of different lengths); once the threshold has
risen they come from the heap, which fragments and keeps gigabytes it no longer uses (measured in
reports/memory). A fixed threshold keeps large tensors on mmap. Set AUGMENT_ALLOCATOR=glibc to keep
glibc's own behaviour; a MALLOC_MMAP_THRESHOLD_ in the environment is the user's and is kept too.
"""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's starting value, held instead of raised


def return_freed_memory() -> bool:
    """Fix glibc's mmap threshold for this process; False where it is not glibc or the user chose."""
    if os.environ.get("AUGMENT_ALLOCATOR") == "glibc" or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not Linux with glibc (macOS, Windows, musl): their allocators behave otherwise
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))

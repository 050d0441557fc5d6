"""Memory that torch frees goes back to the system: glibc's mmap threshold held at 4 MiB.

glibc serves a large allocation with mmap (returned to the system when freed) only above a
threshold, and raises that threshold after each large free, up to 32 MiB. A LoRA fit allocates and
frees tensors of a different size every step (batches of different lengths); once the threshold has
risen they come from the heap, which fragments and keeps gigabytes it no longer uses (measured in
reports/memory). A fixed threshold keeps large tensors on mmap. 4 MiB rather than glibc's starting
128 KiB: each mmap'd block is fresh pages the kernel must zero, and at 128 KiB the many mid-sized
tensors of a step halve the fit's speed for a few hundred MB. Set AUGMENT_ALLOCATOR=glibc to keep
glibc's own behaviour; a MALLOC_MMAP_THRESHOLD_ in the environment is the user's and is kept too.
"""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
MMAP_THRESHOLD = 4 * 1024 * 1024  # held instead of raised; chosen in reports/memory


def return_freed_memory() -> bool:
    """Fix glibc's mmap threshold for this process; False where it is not glibc or the user chose."""
    if os.environ.get("AUGMENT_ALLOCATOR") == "glibc" or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not Linux with glibc (macOS, Windows, musl): their allocators behave otherwise
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))

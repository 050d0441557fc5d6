"""The process memory settings: defaults set before any torch work, the user's own settings kept."""

import os

import pytest

from augment import memory


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("AUGMENT_ALLOCATOR", "ONEDNN_PRIMITIVE_CACHE_CAPACITY", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_primitive_cache_is_capped_unless_the_user_chose(clean_env):
    memory.return_freed_memory()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == memory.PRIMITIVE_CACHE
    clean_env.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "512")
    memory.return_freed_memory()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "512"


def test_glibc_mode_leaves_the_libraries_alone(clean_env):
    clean_env.setenv("AUGMENT_ALLOCATOR", "glibc")
    assert memory.return_freed_memory() is False
    assert "ONEDNN_PRIMITIVE_CACHE_CAPACITY" not in os.environ
    memory.release_heap()  # a no-op there, never an error


def test_a_users_mmap_threshold_is_kept(clean_env):
    clean_env.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert memory.return_freed_memory() is False
    memory.release_heap()

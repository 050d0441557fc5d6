"""Thread pools sized to the free cores, or to --threads / AUGMENT_THREADS."""

import pytest
import torch

from augment import threads
from augment.errors import UserError


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
    if threads._LIMITS is not None:
        threads._LIMITS.restore_original_limits()


def test_free_cores_are_between_one_and_the_available_cores():
    assert 1 <= threads.free_cores(0.05) <= threads.available_cores()


def test_configure_takes_the_flag_then_the_environment(monkeypatch, restore_threads):
    from threadpoolctl import threadpool_info

    assert threads.configure(1) == 1 and torch.get_num_threads() == 1
    assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    monkeypatch.setenv("AUGMENT_THREADS", "2")
    assert threads.configure() == 2 and torch.get_num_threads() == 2
    monkeypatch.setenv("AUGMENT_THREADS", "many")
    with pytest.raises(UserError, match="AUGMENT_THREADS=many"):
        threads.configure()


def test_torchrun_processes_share_the_free_cores(monkeypatch, restore_threads):
    monkeypatch.delenv("AUGMENT_THREADS", raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "64")
    assert threads.configure() == 1


def test_a_run_keeps_the_thread_count_it_was_prepared_with(tmp_path, review_csv, monkeypatch, restore_threads):
    from augment.prepared import PrepareConfig, Prepared, prepare
    from augment.runs import RunDir

    monkeypatch.delenv("AUGMENT_THREADS", raising=False)
    monkeypatch.setattr(threads, "free_cores", lambda seconds=0: 1)  # prepared on a busy machine
    threads.configure()
    prepare(review_csv, tmp_path / "run", PrepareConfig())
    assert RunDir(tmp_path / "run").manifest()["threads"] == 1

    monkeypatch.setattr(threads, "free_cores", lambda seconds=0: 2)  # resumed on an idle one
    assert threads.configure() == 2
    Prepared.load(tmp_path / "run")
    assert torch.get_num_threads() == 1
    threads.configure(2)  # the user's choice wins over the run's
    Prepared.load(tmp_path / "run")
    assert torch.get_num_threads() == 2

"""gan_core.sandbox: a call in a separate process under a memory cap and a time limit."""
from __future__ import annotations

import time

import pytest
import torch

from gan_core.sandbox import SandboxError, run_isolated
from tests_helpers_sandbox import allocate, answer, fail, spin


@pytest.fixture(autouse=True)
def child_finds_helpers(monkeypatch, repo_root):
    monkeypatch.setenv("PYTHONPATH", str(repo_root / "tests"))


def test_plain_result_comes_back():
    out = run_isolated(answer, 3, timeout_s=60)
    assert out["n"] == 3 and torch.equal(out["t"], torch.arange(3))


def test_listed_errors_come_back_as_themselves_others_as_sandbox_errors():
    with pytest.raises(ValueError, match="bad value 7"):
        run_isolated(fail, 7, timeout_s=60, errors=(ValueError,))
    with pytest.raises(SandboxError, match="ValueError: bad value 7"):
        run_isolated(fail, 7, timeout_s=60)


def test_a_call_that_never_ends_is_stopped_at_the_time_limit():
    start = time.perf_counter()
    with pytest.raises(SandboxError, match="longer than 8 s"):
        run_isolated(spin, timeout_s=8)
    assert time.perf_counter() - start < 20


def test_a_call_that_takes_too_much_memory_is_stopped():
    """3 GB asked for under a 200 MB cap: a clean error, the parent untouched."""
    with pytest.raises(SandboxError, match="memory"):
        run_isolated(allocate, 3 * 2**30, timeout_s=60, memory_mb=200)


def test_local_functions_are_refused():
    def local():
        return 1
    with pytest.raises(ValueError, match="importable"):
        run_isolated(local)

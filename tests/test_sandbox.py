"""gan_core.sandbox: a call in a separate process under a memory cap and a time limit."""
from __future__ import annotations

import time

import pytest
import torch

from gan_core.sandbox import SandboxError, run_isolated
from tests_helpers_sandbox import allocate, answer, fail, nap, spin


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


def _in_threads(calls):
    """Run each () -> value in its own thread at once; [value or exception] in order."""
    import threading
    out = [None] * len(calls)

    def one(i, call):
        try:
            out[i] = call()
        except Exception as e:  # noqa: BLE001 - the test looks at it
            out[i] = e
    threads = [threading.Thread(target=one, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    return threads, out


def test_at_most_two_readers_run_at_once_the_rest_wait():
    """Six uploads at once started six readers (1.1 -> 4.4 GB, all six out of time): now at
    most MAX_READERS (2) children live at once; four calls made together all finish."""
    from gan_core.sandbox import MAX_READERS
    assert MAX_READERS == 2
    threads, out = _in_threads([lambda: run_isolated(nap, 3, timeout_s=120)] * 4)
    for t in threads:
        t.join()
    assert all(isinstance(o, list) for o in out), out
    spans = [tuple(o) for o in out]
    most = max(sum(a <= t < b for a, b in spans) for t, _ in spans)
    assert most <= 2, spans


def test_the_time_limit_counts_from_when_a_reader_starts_not_when_it_asked():
    """Both slots taken by 10 s readers: a call that may wait only 0.5 s is refused as busy;
    one with an 8 s limit waits its turn (over 10 s) and still succeeds, as its own reader
    takes a few seconds."""
    threads, out = _in_threads([lambda: run_isolated(nap, 10, timeout_s=60)] * 2)
    time.sleep(0.5)
    with pytest.raises(SandboxError, match="busy reading other files"):
        run_isolated(answer, 1, timeout_s=8, queue_timeout_s=0.5)
    asked = time.perf_counter()
    assert run_isolated(answer, 1, timeout_s=8)["n"] == 1
    assert time.perf_counter() - asked > 8              # it did wait longer than its limit
    for t in threads:
        t.join()
    assert all(isinstance(o, list) for o in out), out

"""Open untrusted files in a short-lived separate process with a memory cap and a time limit.

One uploaded file must never stall a class: whatever a checkpoint or a zip does to the code
that reads it (a value that takes forever to print, an allocation of terabytes, a decoder that
spins), it does it in a child process that is killed after `timeout_s` and cannot grow by more
than `memory_mb`. The server's own threads only wait on a pipe.

    result = run_isolated(read_upload, data, name, timeout_s=20, memory_mb=1024,
                          errors=(CheckpointError,))

`fn` is named by module and qualified name (it must be importable; the child imports it), runs
in `python -c` with the same interpreter, and must return plain data: dicts, lists, numbers,
strings and tensors. The result travels back through `torch.save` and is read with
`torch.load(weights_only=True)`, so even a child that misbehaved cannot make the parent run code.
An exception of one of the `errors` classes comes back as that class with its message; any other
failure, the time limit and the memory cap become a SandboxError with a one-line message.

The child is a fresh interpreter (subprocess, not fork): it shares no threads, locks or memory
with the server, and a page script that Streamlit put in __main__ is not re-run in it.

At most `MAX_READERS` children (2, or GAN_LAB_MAX_READERS) run at once in the server; further
calls wait their turn, and `timeout_s` counts from when a call's child starts, not from when
it asked. (Six uploads at once started six readers on two cores: memory grew from 1.1 to 4.4
GB and all six ran out of time.) A call that waits more than `queue_timeout_s` is refused.
"""
from __future__ import annotations

import importlib
import io
import os
import pickle
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MEMORY_MB = 1024
DEFAULT_QUEUE_TIMEOUT_S = 300.0
MAX_READERS = max(1, int(os.environ.get("GAN_LAB_MAX_READERS", "2")))
_readers = threading.BoundedSemaphore(MAX_READERS)     # server-wide: one per running child


class SandboxError(RuntimeError):
    """The isolated call failed, ran out of time, or ran out of memory."""


def _vm_size() -> int:
    """This process's current address space in bytes (0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _limit_self(memory_mb: int, cpu_s: float) -> None:
    """Cap this process: `memory_mb` more address space than it has now (torch's libraries
    already map a few GB that are never touched), and a CPU-time backstop."""
    import resource
    cap = _vm_size() + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    cpu = int(cpu_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))


def _child() -> None:
    """The child's entry point: read the call from stdin, write the outcome to stdout."""
    import torch
    torch.set_num_threads(1)
    module, qualname, args, kwargs, memory_mb, cpu_s = pickle.loads(sys.stdin.buffer.read())
    fn: Any = importlib.import_module(module)
    for part in qualname.split("."):
        fn = getattr(fn, part)
    _limit_self(memory_mb, cpu_s)
    try:
        outcome: Any = ("ok", fn(*args, **kwargs))
    except MemoryError:
        outcome = ("memory", "", "")
    except BaseException as e:  # noqa: BLE001 - every failure goes back as a message
        first = (str(e).splitlines() or [""])[0][:500]
        outcome = ("error", type(e).__name__, first)
    buf = io.BytesIO()
    try:
        torch.save(outcome, buf)
    except Exception as e:  # noqa: BLE001 - a result that is not plain data
        buf = io.BytesIO()
        torch.save(("error", "SandboxError", f"the result is not plain data ({e})"[:300]), buf)
    sys.stdout.buffer.write(buf.getvalue())
    sys.stdout.buffer.flush()


def run_isolated(fn: Callable, *args, timeout_s: float = DEFAULT_TIMEOUT_S,
                 memory_mb: int = DEFAULT_MEMORY_MB, errors: Sequence[type] = (),
                 queue_timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S, **kwargs) -> Any:
    """fn(*args, **kwargs) in a fresh process under the limits, once one of the server's
    MAX_READERS slots is free; see the module docstring."""
    module, qualname = fn.__module__, fn.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        raise ValueError(f"run_isolated needs an importable function; got {module}.{qualname}")
    payload = pickle.dumps((module, qualname, args, kwargs, memory_mb, timeout_s))
    asked = time.monotonic()
    if not _readers.acquire(timeout=queue_timeout_s):
        raise SandboxError(f"the server was busy reading other files for "
                           f"{time.monotonic() - asked:.0f} s; try again in a minute")
    try:
        return _run_child(payload, timeout_s, memory_mb, errors)
    finally:
        _readers.release()


def _run_child(payload: bytes, timeout_s: float, memory_mb: int,
               errors: Sequence[type]) -> Any:
    """One child under the limits, its outcome returned or raised (run_isolated holds a slot)."""
    import torch

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT)] + [p for p in os.environ.get(
               "PYTHONPATH", "").split(os.pathsep) if p])}
    proc = subprocess.Popen([sys.executable, "-c", "from gan_core.sandbox import _child; _child()"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=str(REPO_ROOT))
    try:
        # The child imports torch (a second or two) before the clock that matters starts, so
        # the limit covers that too: a generous timeout_s is still a bound.
        out, err = proc.communicate(payload, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise SandboxError(f"reading it took longer than {timeout_s:.0f} s, so it was "
                           f"stopped") from None
    finally:
        if proc.poll() is None:          # an exception in communicate itself
            proc.kill()
            proc.wait()
    if not out:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        if proc.returncode in (-9, -24, 137) or "MemoryError" in tail[0] or \
                "Cannot allocate memory" in tail[0]:
            raise SandboxError(f"reading it needed more than {memory_mb} MB of memory or "
                               f"{timeout_s:.0f} s of CPU, so it was stopped")
        raise SandboxError(f"the reader process failed (exit {proc.returncode}: "
                           f"{tail[0][:200]})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = torch.load(io.BytesIO(out), map_location="cpu", weights_only=True)
    kind = outcome[0]
    if kind == "ok":
        return outcome[1]
    if kind == "memory":
        raise SandboxError(f"reading it needed more than {memory_mb} MB of memory, so it was "
                           f"stopped")
    name, message = outcome[1], outcome[2]
    for cls in errors:
        if cls.__name__ == name:
            raise cls(message)
    raise SandboxError(f"{name}: {message}" if message else name)

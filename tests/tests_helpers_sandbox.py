"""Functions the sandbox tests run in a child process (it imports them by name)."""
import time

import torch


def answer(n):
    return {"n": n, "t": torch.arange(n)}


def fail(n):
    raise ValueError(f"bad value {n}")


def spin():
    while True:
        time.sleep(0.05)


def allocate(n):
    block = bytearray(n)            # touches every page
    return len(block)


def nap(seconds):
    """Sleeps; returns when it ran (wall clock, comparable between processes)."""
    start = time.time()
    time.sleep(seconds)
    return [start, time.time()]

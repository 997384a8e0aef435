"""Processes read from /proc (Linux): a process's parent and CPU time, a process tree, and the
CPU seconds a group of processes has used. Shared by the browser bench and the class-of-30
test, which both split the machine's work between the server, its workers and Chromium."""
from __future__ import annotations

import os
from pathlib import Path


def process_stat(pid: int) -> tuple[int, float]:
    """(parent pid, CPU seconds used) of a process; OSError once it has ended."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parents() -> dict[int, int]:
    """{pid: parent pid} of every process readable now."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out[int(entry.name)] = process_stat(int(entry.name))[0]
            except (OSError, IndexError, ValueError):
                pass                                # ended while read
    return out


def descendants(pid: int, tree: dict[int, int] | None = None) -> list[int]:
    """Every process below `pid` (children, their children...), from `tree` or from now."""
    tree = parents() if tree is None else tree
    out, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, parent in tree.items() if parent == p]
        out += kids
        frontier += kids
    return out


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds the processes have used; one that has ended counts 0 (a lower bound)."""
    total = 0.0
    for p in pids:
        try:
            total += process_stat(p)[1]
        except (OSError, IndexError, ValueError):
            pass
    return total


def cmdline(pid: int) -> str:
    """A process's command line, '' once it has ended."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""

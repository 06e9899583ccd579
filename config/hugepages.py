"""Transparent huge pages for the web process's heap (Linux; docs/performance.md, "Thirteenth step: transparent huge
pages"). deploy/gunicorn.conf.py calls `use_huge_pages()` in each worker before it serves when PRAETOR_HUGEPAGES is
on (off by default: it costs ~50 MiB of PSS a worker, the preloaded heap no longer shared with the master).

`use_huge_pages()` madvises the process's private anonymous read-write mappings (the glibc heap, pymalloc's arenas,
other mmap'd memory) with MADV_HUGEPAGE and, where a 2 MiB block is mostly resident already, collapses it at once
into a huge page with MADV_COLLAPSE (Linux 6.1+). A block mostly unused (a thread's stack, a reserve) is only
advised, so that it costs no memory it would not have cost anyway. Anything the kernel refuses (no THP, an older
kernel, a mapping that cannot be collapsed) is counted and skipped: the process runs as before.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from dataclasses import dataclass, field

MADV_HUGEPAGE = 14
MADV_COLLAPSE = 25  # Linux 6.1
PAGE = mmap.PAGESIZE


def huge_page_size() -> int:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def anonymous_ranges(maps: str) -> list[tuple[int, int]]:
    """The private anonymous read-write mappings of a /proc/PID/maps text (the heap included, the stack and the
    kernel's special mappings not), as (start, end)."""
    out = []
    for line in maps.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        path = parts[5].strip() if len(parts) > 5 else ""
        if parts[1].startswith("rw") and parts[1][3] == "p" and path in ("", "[heap]"):
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            out.append((lo, hi))
    return out


def huge_blocks(ranges: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """The whole `size`-aligned blocks inside each range, each range's as one (start, end), empty ones left out."""
    out = []
    for lo, hi in ranges:
        a, b = (lo + size - 1) // size * size, hi // size * size
        if b > a:
            out.append((a, b))
    return out


@dataclass
class Outcome:
    advised: int = 0  # bytes advised MADV_HUGEPAGE
    collapsed: int = 0  # bytes collapsed into huge pages
    refused: int = 0  # madvise calls the kernel refused
    errors: set = field(default_factory=set)


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    return libc


def use_huge_pages(min_resident: float = 0.5, collapse: bool = True) -> Outcome:
    """Advise this process's anonymous memory MADV_HUGEPAGE and collapse its 2 MiB blocks at least `min_resident`
    resident (mincore) with MADV_COLLAPSE; `collapse=False` only advises."""
    outcome = Outcome()
    size = huge_page_size()
    if not size:
        return outcome
    libc = _libc()
    with open("/proc/self/maps") as f:
        blocks = huge_blocks(anonymous_ranges(f.read()), size)
    vec = (ctypes.c_ubyte * (size // PAGE))()
    for a, b in blocks:
        if libc.madvise(a, b - a, MADV_HUGEPAGE):
            outcome.refused += 1
            outcome.errors.add(os.strerror(ctypes.get_errno()))
            continue
        outcome.advised += b - a
        if not collapse:
            continue
        for block in range(a, b, size):
            if libc.mincore(block, size, vec):
                continue
            if sum(v & 1 for v in vec) < min_resident * len(vec):
                continue
            if libc.madvise(block, size, MADV_COLLAPSE):
                outcome.refused += 1
                outcome.errors.add(os.strerror(ctypes.get_errno()))
            else:
                outcome.collapsed += size
    return outcome


def memory(pid: int | str = "self") -> dict[str, int]:
    """Rss, Pss, AnonHugePages and FilePmdMapped of a process in KiB (/proc/PID/smaps_rollup)."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts[0].rstrip(":") in ("Rss", "Pss", "AnonHugePages", "FilePmdMapped"):
                out[parts[0].rstrip(":")] = int(parts[1])
    return out

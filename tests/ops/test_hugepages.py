"""config/hugepages.py: which mappings it madvises, and that a touched anonymous mapping ends up in huge pages while an
untouched one costs no memory (docs/performance.md, "Thirteenth step: huge pages")."""

from __future__ import annotations

import ctypes
import mmap
from pathlib import Path

import pytest

from config import hugepages

MAPS = """\
55d0c0000000-55d0c0400000 rw-p 00000000 00:00 0                          [heap]
7f0000000000-7f0000a00000 rw-p 00000000 00:00 0
7f0000a00000-7f0000c00000 r-xp 00000000 fe:01 1234                       /usr/lib/libpython3.11.so.1.0
7f0000c00000-7f0000e00000 rw-p 00200000 fe:01 1234                       /usr/lib/libpython3.11.so.1.0
7f0001000000-7f0001400000 rw-s 00000000 00:05 99                         /dev/zero (deleted)
7f0002000000-7f0002001000 ---p 00000000 00:00 0
7ffc00000000-7ffc00400000 rw-p 00000000 00:00 0                          [stack]
7ffc10000000-7ffc10002000 r--p 00000000 00:00 0                          [vvar]
"""
HUGE = 2 << 20


def test_anonymous_ranges_are_the_heap_and_private_anonymous_rw_mappings():
    assert hugepages.anonymous_ranges(MAPS) == [(0x55D0C0000000, 0x55D0C0400000), (0x7F0000000000, 0x7F0000A00000)]


def test_huge_blocks_are_the_aligned_whole_blocks_inside_each_range():
    assert hugepages.huge_blocks([(HUGE - 4096, 4 * HUGE + 4096), (5 * HUGE + 4096, 6 * HUGE + 8192)], HUGE) == [
        (HUGE, 4 * HUGE)]


def _thp_usable() -> bool:
    try:
        enabled = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return False
    return "[never]" not in enabled


def _huge_kib(lo: int, hi: int) -> int:
    """AnonHugePages (KiB) of this process's mappings overlapping [lo, hi) (/proc/self/smaps)."""
    out, overlaps = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            a, b = (int(x, 16) for x in head.split("-"))
            overlaps = a < hi and b > lo
        elif overlaps and head == "AnonHugePages:":
            out += int(line.split()[1])
    return out


def _resident_pages(lo: int, size: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    vec = (ctypes.c_ubyte * (size // mmap.PAGESIZE))()
    assert libc.mincore(ctypes.c_void_p(lo), ctypes.c_size_t(size), vec) == 0
    return sum(v & 1 for v in vec)


@pytest.mark.skipif(not _thp_usable(), reason="transparent huge pages are off on this kernel")
def test_a_touched_mapping_is_collapsed_and_a_sparse_one_only_advised():
    touched = mmap.mmap(-1, 8 * HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    untouched = mmap.mmap(-1, 8 * HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # one page in 512 touched
    try:
        for offset in range(0, len(touched), mmap.PAGESIZE):
            touched[offset] = 1
        for offset in range(0, len(untouched), HUGE):
            untouched[offset] = 1
        lo = ctypes.addressof(ctypes.c_char.from_buffer(touched))
        ulo = ctypes.addressof(ctypes.c_char.from_buffer(untouched))
        before = _huge_kib(lo, lo + len(touched))
        outcome = hugepages.use_huge_pages()
        assert outcome.advised >= 14 * HUGE and outcome.collapsed >= 6 * HUGE, outcome
        # 7 of its 8 blocks at least are whole (aligned) blocks, collapsed
        assert _huge_kib(lo, lo + len(touched)) - before >= 7 * 2048
        assert _resident_pages(ulo, len(untouched)) <= 8  # advised only: not filled to huge pages
    finally:
        touched.close()
        untouched.close()


def test_memory_reads_smaps_rollup():
    got = hugepages.memory()
    assert set(got) == {"Rss", "Pss", "AnonHugePages", "FilePmdMapped"} and got["Rss"] > 0

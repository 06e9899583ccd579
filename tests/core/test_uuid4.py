"""apps/core/rows.py `uuid4` makes what `uuid.uuid4()` makes from the same random bytes (the same object: int,
version, variant, is_safe), never the same id twice, in threads and across a fork (a child forgets the bytes
its parent read ahead)."""

from __future__ import annotations

import os
import threading
import uuid

from apps.core import rows


def test_the_same_bytes_make_the_same_uuid_as_the_standard_library(monkeypatch):
    chunks = [os.urandom(16) for _ in range(64)] + [b"\x00" * 16, b"\xff" * 16]
    monkeypatch.setattr(rows, "_READ_AHEAD", 16)  # one id per read: each read is the id's own bytes
    feed = iter(chunks)
    monkeypatch.setattr(rows.os, "urandom", lambda n: next(feed))
    rows._forget_random_bytes()
    for chunk in chunks:
        made, expected = rows.uuid4(), uuid.UUID(bytes=chunk, version=4)
        assert made == expected and made.int == expected.int and str(made) == str(expected)
        assert (made.version, made.variant, made.is_safe) == (4, uuid.RFC_4122, expected.is_safe)
        assert type(made) is uuid.UUID and hash(made) == hash(expected)
    rows._forget_random_bytes()


def test_ids_are_distinct_and_random_across_reads():
    made = [rows.uuid4() for _ in range(5000)]  # several reads ahead
    assert len(set(made)) == len(made)
    assert all(m.version == 4 and m.variant == uuid.RFC_4122 for m in made)
    # every one of the 122 random bits varies
    varying = 0
    for bit in range(128):
        values = {(m.int >> bit) & 1 for m in made}
        varying += values == {0, 1}
    assert varying == 122


def test_threads_never_share_bytes():
    made: list = []
    lock = threading.Lock()

    def work():
        mine = [rows.uuid4() for _ in range(2000)]
        with lock:
            made.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == len(made) == 16000


def test_a_forked_child_does_not_reuse_the_bytes_its_parent_read_ahead():
    rows._forget_random_bytes()
    rows.uuid4()  # the parent has read ahead: 63 ids left in its buffer
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        try:
            os.write(write, b"".join(rows.uuid4().bytes for _ in range(63)))
        finally:
            os._exit(0)
    os.close(write)
    received = b""
    while chunk := os.read(read, 4096):
        received += chunk
    os.close(read)
    os.waitpid(pid, 0)
    child = {uuid.UUID(bytes=received[n:n + 16]) for n in range(0, len(received), 16)}
    parent = {rows.uuid4() for _ in range(63)}
    assert len(child) == 63 and not child & parent

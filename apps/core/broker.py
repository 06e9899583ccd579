"""kombu's filesystem transport (the embedded mode's broker, config/settings/celery.py) with three faults fixed.

- **A half-written message could crash the worker.** kombu's `_put` creates the message file, then writes
  it; its `_get` renames and reads whatever file it lists first, without the writer's lock. A worker that
  polled in between read an empty or partial message, its JSON decoding raised out of the consumer loop,
  the worker stopped ("Unrecoverable error": seen with an empty message file) and honcho stopped web and
  beat with it. Here a message is
  written under a name `_get` never picks and renamed into place once complete (a rename is atomic), and
  a file that still does not decode is logged and skipped instead of raised.
- **The worker ran at most about one task a second.** Celery (`synloop`, the loop of every transport
  without an event loop) applies the acks of finished tasks between two `drain_events(timeout=2.0)`
  calls, but kombu's `drain_events` sleeps out the whole 2 s whenever the prefetch window (worker
  concurrency x prefetch multiplier: 2 here) is full of tasks already done. So the worker took two
  messages per two seconds, and a beat that sends more (a 1 s session sweep plus the engine's loops)
  built a queue that only grew. Here a full window returns to Celery's loop after a short wait.
- **Messages were ordered by the text of a number.** File names start with `monotonic()` in
  milliseconds and the queue is read in name order, so when that number gained a digit (16.7 minutes,
  2.8 hours, 27.8 hours after boot) newer messages sorted before older ones, and messages sent within one
  millisecond came in random order. The stamp is `monotonic_ns()`, zero-padded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from queue import Empty

from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

# How long drain_events waits, when every consuming channel's prefetch window is full, before it returns
# to Celery's loop (which then applies the acks of the tasks that finished meanwhile).
FULL_WINDOW_WAIT = 0.1
# monotonic_ns() fits in 20 digits for 3,000 years of uptime.
_STAMP_DIGITS = 20


def _write(path: str, data: bytes) -> None:
    """Create `path` (it must not exist) holding `data`. A seam for tests."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put a message onto `queue`: written under a hidden name, then renamed to `<stamp>_<uuid>.<queue>.msg`."""
        name = f"{time.monotonic_ns():0{_STAMP_DIGITS}d}_{uuid.uuid4()}.{queue}.msg"
        # No ".<queue>.msg" in the temporary name: _get, _size and _purge never see a message being written.
        partial = os.path.join(self.data_folder_out, f".incoming-{uuid.uuid4()}")
        try:
            _write(partial, str_to_bytes(dumps(payload)))
            os.replace(partial, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise filesystem.ChannelError(f"Cannot add file {name!r} to directory") from exc

    def _get(self, queue):
        """Get the next message from `queue`, skipping (and logging) any file that is not a message."""
        queue_find = "." + queue + ".msg"
        processed_folder = self.processed_folder if self.store_processed else tempfile.gettempdir()
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.startswith(".") or queue_find not in filename:
                continue
            try:
                # Claim the file: move it out of the queue folder (another consumer may have taken it).
                shutil.move(os.path.join(self.data_folder_in, filename), processed_folder)
            except OSError:
                continue
            claimed = os.path.join(processed_folder, filename)
            try:
                with open(claimed, "rb") as f:
                    payload = f.read()
                if not self.store_processed:
                    os.remove(claimed)
            except OSError as exc:
                raise filesystem.ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            try:
                return loads(bytes_to_str(payload))
            except ValueError:
                logger.error("Dropped %s from queue %r: not a message (%d bytes).", filename, queue, len(payload))
        raise Empty()


class Transport(filesystem.Transport):
    Channel = Channel

    def drain_events(self, connection, timeout=None):
        """Deliver one message, as kombu's does; but when nothing came because a consumer's prefetch window is
        full, return to the caller's loop (Celery's applies the acks that free it) after FULL_WINDOW_WAIT
        instead of polling on until `timeout`."""
        started = time.monotonic()
        polling_interval = self.polling_interval
        if timeout and polling_interval and polling_interval > timeout:
            polling_interval = timeout
        while True:
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                window_full = any(channel._consumers and not channel.qos.can_consume() for channel in self.channels)
                if timeout is not None and (window_full or time.monotonic() - started >= timeout):
                    if window_full:
                        time.sleep(min(FULL_WINDOW_WAIT, timeout))
                    raise TimeoutError() from None  # socket.timeout, what Celery's loop expects
                if window_full:
                    time.sleep(FULL_WINDOW_WAIT)
                elif polling_interval is not None:
                    time.sleep(polling_interval)

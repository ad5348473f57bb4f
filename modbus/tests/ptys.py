"""Two pseudo-terminals wired back to back, like ``socat pty pty``: a serial line without hardware."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty
from collections.abc import Iterator


@contextlib.contextmanager
def linked_ptys() -> Iterator[tuple[str, str]]:
    """Yields two device paths; bytes written to one come out of the other."""
    master_a, slave_a = os.openpty()
    master_b, slave_b = os.openpty()
    for fd in (slave_a, slave_b):
        tty.setraw(fd)
    paths = (os.ttyname(slave_a), os.ttyname(slave_b))
    stop_r, stop_w = os.pipe()

    def relay() -> None:
        peers = {master_a: master_b, master_b: master_a}
        while True:
            ready, _, _ = select.select([master_a, master_b, stop_r], [], [])
            if stop_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if data:
                    os.write(peers[fd], data)

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    try:
        yield paths
    finally:
        os.write(stop_w, b"x")
        thread.join(2)
        for fd in (master_a, master_b, slave_a, slave_b, stop_r, stop_w):
            os.close(fd)

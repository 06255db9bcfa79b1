"""fn() in a thread with a time limit: a test of something that must never wait forever (a
named pipe in place of a file) fails, naming the wait, instead of hanging the suite."""
from __future__ import annotations

import os
import threading

import pytest


def in_time(fn, seconds: float = 20.0, fifos=()):
    """fn()'s value (or its exception) if it returns within `seconds`; else the test fails,
    and a reader left blocked on one of `fifos` is released by opening it for writing."""
    box = {}

    def work():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 (raised again below, in the test)
            box["error"] = e
    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        for f in fifos:
            try:
                os.close(os.open(f, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        pytest.fail(f"still waiting on a named pipe after {seconds} s")
    if "error" in box:
        raise box["error"]
    return box["value"]

"""Where loading a detection dataset reports the region-proposal search's progress, and how it
is asked to stop: set by the trainer for its thread (report_progress), read by the detection
datasets while they load (runtime/data/detection.py, ARCHITECTURE.md "A dataset kind").

Standard library only: it imports nothing of runtime/data/, which imports it.
"""
from __future__ import annotations

import threading
from typing import Callable

# Set by the trainer while a dataset loads: (done, total) of the proposals being searched.
_progress = threading.local()


def report_progress(callback: Callable[[int, int], None] | None,
                    stop: Callable[[], bool] | None = None,
                    notice: Callable[[str], None] | None = None) -> None:
    """Where this thread's next proposal search reports its progress (None: nowhere), what
    it asks between images whether to stop (it then raises proposals.SearchStopped), and
    whom it tells that its cache file was damaged and is computed again."""
    _progress.callback, _progress.stop, _progress.notice = callback, stop, notice


def progress_hooks() -> tuple[Callable[[int, int], None] | None, Callable[[], bool] | None,
                              Callable[[str], None] | None]:
    """This thread's (callback, stop, notice) as report_progress set them (None where unset)."""
    return (getattr(_progress, "callback", None), getattr(_progress, "stop", None),
            getattr(_progress, "notice", None))


def stop_requested() -> bool:
    """Whether the run this thread loads data for was asked to stop (checked between images
    by the loaders: they then raise proposals.SearchStopped)."""
    stop = getattr(_progress, "stop", None)
    return bool(stop is not None and stop())

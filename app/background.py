"""Work on a background thread, its outcome handed back to the GUI thread (ARCHITECTURE.md,
"app/"). One helper for what the export dialog, the Try panel and the start-up import of
torch each need: run a slow function (an export, a model loaded, `import torch`) without
freezing the window, show that it is busy meanwhile, and show what it gave once it ends.

    job = Background(self)                      # made on the GUI thread; `self` owns it
    job.start(work, done, tick=None)            # False (nothing started) while one runs
        work()          runs on the thread; it must not touch a widget
        done(outcome)   then runs once on the GUI thread: outcome.value, or outcome.error
                        (the exception `work` raised); outcome.get() returns the value or
                        raises the error there, for `except` clauses that pick the kinds meant
        tick()          optional: on the GUI thread every `tick_ms` while `work` runs
                        (a seconds counter, a busy animation)
    job.busy                                    # True from start() until done() was called
    job.wait(timeout)   tests and scripts: join the thread, then call done() here at once;
                        True if it ended (False: still running after `timeout` seconds)
    job.join(timeout)   at exit: only wait for the thread (done() is not called; the
                        interpreter must not shut down while the thread is inside C++)

The end is announced by a queued signal, so done() runs as soon as the GUI thread's event
loop turns, not at the next tick. The thread is a daemon: a window closed meanwhile does
not wait for it, and done() is then never called (its owner, deleted, is not told). The
thread only ever emits on one relay object that is never deleted, never on the job's own
(which the GUI thread may be deleting at that moment, with its dialog).
"""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer, Signal


@dataclass(frozen=True)
class Outcome:
    """What `work()` gave: its return `value`, or the `error` (an exception) it raised."""
    value: Any = None
    error: Exception | None = None

    def get(self) -> Any:
        """The value; the error is raised here (on the GUI thread, in done())."""
        if self.error is not None:
            raise self.error
        return self.value


class _Relay(QObject):
    """Carries a job's end from its thread to the GUI thread (made there, never deleted)."""
    ended = Signal(object, int)  # (a weak reference to the Background, the job's number)

    def __init__(self):
        super().__init__()
        self.ended.connect(self._deliver, Qt.QueuedConnection)

    def _deliver(self, ref, number: int) -> None:
        job = ref()
        if job is not None and shiboken6.isValid(job):  # its owner may be gone
            job._deliver(number)


_relay: _Relay | None = None


class Background(QObject):
    """One function at a time on a daemon thread; see the module's docstring."""

    def __init__(self, parent: QObject | None = None, tick_ms: int = 100):
        super().__init__(parent)
        global _relay
        if _relay is None:
            _relay = _Relay()  # on the GUI thread, as this job is made
        self._relay = _relay
        self.thread: threading.Thread | None = None  # None once done() was called
        self._tick_ms = tick_ms
        self._timer: QTimer | None = None  # made on the first start with a tick
        self._number = 0
        self._result: tuple[int, Outcome] | None = None
        self._done: Callable[[Outcome], None] | None = None
        self._tick: Callable[[], None] | None = None

    @property
    def busy(self) -> bool:
        return self.thread is not None

    def start(self, work: Callable[[], Any], done: Callable[[Outcome], None],
              tick: Callable[[], None] | None = None) -> bool:
        """Run `work` on a new thread; False (and nothing started) while a job is busy."""
        if self.busy:
            return False
        self._number += 1
        self._result, self._done, self._tick = None, done, tick
        number = self._number
        self.thread = threading.Thread(target=self._run, args=(work, number), daemon=True,
                                       name=f"background-{getattr(work, '__name__', 'work')}")
        self.thread.start()
        if tick is not None:
            if self._timer is None:
                self._timer = QTimer(self, interval=self._tick_ms)
                self._timer.timeout.connect(self._ticked)
            self._timer.start()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Join the thread, then call done() on this thread; True if the job ended."""
        if self.thread is None:
            return True
        self.thread.join(timeout)
        if self.thread.is_alive():
            return False
        self._deliver(self._number)
        return True

    def join(self, timeout: float | None = None) -> bool:
        """Only wait for the thread to end (done() is not called); True if it ended."""
        thread = self.thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run(self, work, number: int) -> None:
        try:
            outcome = Outcome(value=work())
        except Exception as e:  # not swallowed: handed to done(), which decides what it means
            outcome = Outcome(error=e)
        self._result = (number, outcome)
        self._relay.ended.emit(weakref.ref(self), number)

    def _ticked(self) -> None:
        if self.thread is not None and self._result is None and self._tick is not None:
            self._tick()

    def _deliver(self, number: int) -> None:
        result = self._result
        if self.thread is None or result is None or not result[0] == number == self._number:
            return  # already delivered (by wait()), or an earlier job's late signal
        if self._timer is not None:
            self._timer.stop()
        done, self.thread, self._result, self._done, self._tick = \
            self._done, None, None, None, None
        done(result[1])

"""Load the torch-backed runtime in a background thread at start-up.

Importing torch takes 2-3 s. The summary (parameter counts) and the generated code need it;
imported on the GUI thread it would freeze the window just after it appears. The panels show
"loading…" until `runtime_ready` fires, then refresh."""
from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal


class _Warmup(QObject):
    ready = Signal()

    def __init__(self):
        super().__init__()
        self.done = threading.Event()
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._load, name="runtime-warmup", daemon=True)
            self._thread.start()

    def _load(self) -> None:
        try:
            import runtime.compile  # noqa: F401  (pulls in torch)
            import runtime.summary  # noqa: F401
        except Exception as e:  # reported by the panels that need it
            self.error = f"{type(e).__name__}: {e}"
        self.done.set()
        self.ready.emit()  # queued to the GUI thread's receivers


_instance: _Warmup | None = None


def warmup() -> _Warmup:
    global _instance
    if _instance is None:
        _instance = _Warmup()
    return _instance


def runtime_ready() -> bool:
    w = warmup()
    w.start()
    return w.done.is_set()

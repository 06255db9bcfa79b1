"""Load the torch-backed runtime in a background thread at start-up.

Importing torch takes 2-3 s. The summary (parameter counts) and the generated code need it;
imported on the GUI thread it would freeze the window just after it appears. The panels show
"loading…" until `runtime_ready` fires, then refresh.

Python holds the GIL while it loads an extension's shared libraries, and libtorch_cpu takes
~0.3 s to load and initialise: imported plainly on the background thread, that froze the
window for 260-390 ms (measured). `_preload_libtorch` loads it first through a plain C call,
which runs without the GIL; the import then finds it loaded. The longest stall left while
torch imports is ~60 ms.

The thread is an app/background.py job; see ARCHITECTURE.md ("app/") for the layers."""
from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
import threading

from PySide6.QtCore import QObject, Signal

from .background import Background, Outcome


class _Warmup(QObject):
    ready = Signal()  # on the GUI thread, once the import ended (well or not)

    def __init__(self):
        super().__init__()
        self.done = threading.Event()  # set on the thread as soon as the import ended
        self.error: str | None = None  # why the import failed, if it did
        self._job = Background(self)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._job.start(self._load, self._loaded)

    def _load(self) -> None:
        _preload_libtorch()
        try:
            import runtime.compile  # noqa: F401  (pulls in torch)
            import runtime.summary  # noqa: F401
        finally:
            self.done.set()  # a failed import too: the panels that need it report it

    def _loaded(self, outcome: Outcome) -> None:
        e = outcome.error
        if e is not None:
            self.error = f"{type(e).__name__}: {e}"
        self.ready.emit()

    def finish(self, timeout: float = 60.0) -> None:
        """Wait for the import to end: the interpreter must not shut down while this
        (daemon) thread is inside torch's C++ initialisation, which can crash the exit."""
        self._job.join(timeout)


def _preload_libtorch() -> bool:
    """dlopen torch's C++ core with the GIL released (Linux and macOS); False if not done.
    Only the C++ library, which never calls into Python: its Python bindings load as usual."""
    if "torch" in sys.modules or not (sys.platform.startswith("linux") or sys.platform == "darwin"):
        return False
    try:
        spec = importlib.util.find_spec("torch")
        if spec is None or not spec.origin:
            return False
        name = "libtorch_cpu.dylib" if sys.platform == "darwin" else "libtorch_cpu.so"
        path = os.path.join(os.path.dirname(spec.origin), "lib", name)
        if not os.path.isfile(path):
            return False
        libc = ctypes.CDLL(None)  # ctypes drops the GIL around foreign calls
        libc.dlopen.restype = ctypes.c_void_p
        libc.dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
        return bool(libc.dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL))
    except (OSError, AttributeError, ValueError):
        return False  # the import below loads it the usual way


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

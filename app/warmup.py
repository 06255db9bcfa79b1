"""Load the torch-backed runtime in a background thread at start-up.

Importing torch takes 2-3 s. The summary (parameter counts) and the generated code need it;
imported on the GUI thread it would freeze the window just after it appears. The panels show
"loading…" until `runtime_ready` fires, then refresh.

Python holds the GIL while it loads an extension's shared libraries, and libtorch_cpu takes
~0.3 s to load and initialise: imported plainly on the background thread, that froze the
window for 260-390 ms (measured). `_preload_libtorch` loads it first through a plain C call,
which runs without the GIL; the import then finds it loaded. The longest stall left while
torch imports is ~60 ms."""
from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
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
        _preload_libtorch()
        try:
            import runtime.compile  # noqa: F401  (pulls in torch)
            import runtime.summary  # noqa: F401
        except Exception as e:  # reported by the panels that need it
            self.error = f"{type(e).__name__}: {e}"
        self.done.set()
        self.ready.emit()  # queued to the GUI thread's receivers

    def finish(self, timeout: float = 60.0) -> None:
        """Wait for the import to end: the interpreter must not shut down while this
        (daemon) thread is inside torch's C++ initialisation, which can crash the exit."""
        if self._thread is not None:
            self._thread.join(timeout)


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

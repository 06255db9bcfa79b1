"""Start the desktop app: `layerloom` or `layerloom gui [FILE]`."""
from __future__ import annotations

import os
import sys


def has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM"))


def run(file: str | None = None, train: bool = False) -> int:
    if not has_display():
        print("error: no display found (DISPLAY is not set). Run LayerLoom in a desktop "
              "session, or under Xvfb; the command line (layerloom train/check) works without "
              "one.", file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from .mainwindow import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LayerLoom")
    app.setOrganizationName("LayerLoom")
    win = MainWindow()
    win.trainer.ensure_worker()  # the training process loads torch while the user looks around
    win.show()
    import signal

    from PySide6.QtCore import QTimer
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: win.emergency_close())
    tick = QTimer(interval=250)  # lets Python see signals while Qt's loop runs in C++
    tick.timeout.connect(lambda: None)
    tick.start()
    restored = win.offer_recovery()
    if file and not restored:
        if win.open_path(file, ask=False) and train:
            # After the window's own import of torch (app/warmup.py): the last step of that
            # import holds the GIL for ~0.1 s, which would otherwise fall in the run's first
            # seconds. The training process loads torch meanwhile, so the start is no later.
            from .warmup import runtime_ready, warmup
            if runtime_ready():
                win.start_training()
            else:
                warmup().ready.connect(win.start_training)
    code = app.exec()
    tick.stop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)  # the handlers hold the window: let it go
    from .warmup import warmup
    warmup().finish()  # a window closed within torch's import must not crash the exit
    _tear_down(win)
    return code


def _tear_down(win) -> None:
    """Delete the window, then the application, before the interpreter shuts down. Left to
    Python's exit they go in no set order, and a widget outliving the QApplication crashes the
    exit (SIGSEGV with no Python frame: seen once in a few hundred runs, on a loop that ended
    by QApplication.quit() with the window still open)."""
    import shiboken6
    from PySide6.QtWidgets import QApplication

    win.trainer.close()  # closeEvent did this unless the loop ended without a close
    win.autosave_timer.stop()
    shiboken6.delete(win)
    app = QApplication.instance()
    if app is not None:
        app.shutdown()

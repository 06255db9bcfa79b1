"""The app's exit: the window and the QApplication are deleted before Python shuts down."""
import pytest

from tests.app.test_document import CNN, run_gui  # noqa: F401  (CNN: a fixture)


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_quit_with_the_window_open_leaves_no_widget_to_python_s_exit(tmp_path, CNN):
    """A loop ended by QApplication.quit() (the window never closed) once crashed the exit with
    SIGSEGV in CI: 1,344 widgets and the application were still alive when the interpreter
    began to shut down, to be destroyed in no set order. The exit handler registered here runs
    before PySide's and pyqtgraph's own."""
    r = run_gui(CNN, tmp_path,
                "    import atexit\n"
                "    def at_exit():\n"
                "        a = QApplication.instance()\n"
                "        print('AT EXIT', a is not None, len(a.allWidgets()) if a else 0, flush=True)\n"
                "    atexit.register(at_exit)\n"
                "    QTimer.singleShot(0, QApplication.instance().quit)\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "AT EXIT False 0" in r.stdout, r.stdout + r.stderr

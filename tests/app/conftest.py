import pytest

from app.mainwindow import MainWindow


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """Settings and recovery files in a fresh folder for every test."""
    monkeypatch.setenv("LAYERLOOM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


class Answers:
    """Scripted answers to the window's prompts; records what was asked."""

    def __init__(self):
        self.save_changes = "discard"
        self.open_path = None
        self.save_path = None
        self.restore = True
        self.asked: list[str] = []
        self.errors: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def answers(monkeypatch):
    """Every MainWindow in the tests answers its prompts from here: no modal dialog can
    block a test (or its teardown, when qtbot closes a window with unsaved changes)."""
    a = Answers()

    def ask_save_changes(self):
        a.asked.append("save_changes")
        return a.save_changes
    monkeypatch.setattr(MainWindow, "ask_save_changes", ask_save_changes)
    monkeypatch.setattr(MainWindow, "ask_open_path", lambda self: a.open_path)
    monkeypatch.setattr(MainWindow, "ask_save_path", lambda self: a.save_path)
    monkeypatch.setattr(MainWindow, "ask_restore",
                        lambda self, found: a.asked.append("restore") or a.restore)
    monkeypatch.setattr(MainWindow, "show_error", lambda self, t, m: a.errors.append((t, m)))
    return a


@pytest.fixture
def win(qtbot, answers):
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    return w

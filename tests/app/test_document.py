"""Undo/redo, files, the unsaved-changes prompts, recent files, autosave and recovery."""
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QComboBox, QLineEdit, QPlainTextEdit

from app import recovery
from app.document import Document, EditRefused, Editor
from app.mainwindow import MainWindow
from graph import catalogue
from graph.model import Edge, GraphError
from graph.project import load
from tests.params import sample_value

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates" / "cnn.json"


@pytest.fixture
def CNN(tmp_path):
    """A copy of the CNN template: tests that save must never write into templates/."""
    import shutil
    return Path(shutil.copy(TEMPLATE, tmp_path / "cnn.json"))
TYPES = sorted(catalogue.SPECS)


def random_edit(editor: Editor, rnd: random.Random) -> str:
    """One random edit through the real undo commands; returns its kind."""
    g = editor.g
    nodes = g.nodes()
    kind = rnd.choice(["add", "add", "connect", "connect", "rewire", "unwire", "remove",
                       "param", "param", "move", "rename", "paste", "arrange", "group",
                       "group", "ungroup", "open", "open", "up", "repeat", "library",
                       "rename_block", "expose", "expose"])
    if kind in ("library", "rename_block", "expose"):
        return block_edit(editor, rnd, kind)
    if kind == "add" or not nodes:
        try:
            editor.add_node(rnd.choice(TYPES), (rnd.randint(-500, 500), rnd.randint(-300, 300)))
        except EditRefused:  # an Input inside a block, a Block input outside one
            return "refused"
        return "add"
    blocks = [n for n in nodes if g.node_type(n).startswith("block:")]
    if kind == "group":
        try:
            layers = [n for n in nodes if g.spec(n).role.layer_like] or nodes
            run = [rnd.choice(layers)]  # a layer and up to two that follow it
            for _ in range(rnd.randint(0, 2)):
                nxt = [e.dst for e in g.out_edges(run[-1]) if e.dst not in run
                       and g.spec(e.dst).role.layer_like]
                if nxt:
                    run.append(rnd.choice(nxt))
            editor.group(run)
        except EditRefused:
            return "refused"
        return kind
    if kind in ("ungroup", "open", "repeat") and blocks:
        n = rnd.choice(blocks)
        try:
            if kind == "ungroup":
                editor.ungroup(n)
            elif kind == "open":
                editor.doc.open_block(n)
            else:
                editor.set_param(n, "repeat", rnd.randint(1, 4))
        except EditRefused:
            return "refused"
        return kind
    if kind == "up" and editor.doc.frames:
        editor.doc.go_to(rnd.randrange(len(editor.doc.frames)))
        return kind
    if kind in ("connect", "rewire"):
        for _ in range(20):
            s, d = rnd.choice(nodes), rnd.choice(nodes)
            outs, ins = g.spec(s).outputs, g.spec(d).inputs
            if outs and ins:
                e = Edge(s, rnd.choice(outs).name, d, rnd.choice(ins).name)
                try:
                    editor.connect(e, replace=(kind == "rewire"))
                    return kind
                except EditRefused:
                    continue
        return "none"
    if kind == "unwire" and g.edges():
        editor.disconnect([rnd.choice(g.edges())])
        return kind
    if kind == "remove":
        try:
            editor.remove(rnd.sample(nodes, min(len(nodes), rnd.randint(1, 2))),
                          rnd.sample(g.edges(), min(1, len(g.edges()))))
        except EditRefused:  # a block's port wired where the block is used
            return "refused"
        return kind
    if kind == "never":
        editor.remove(rnd.sample(nodes, min(len(nodes), rnd.randint(1, 2))),
                      rnd.sample(g.edges(), min(1, len(g.edges()))))
        return kind
    if kind == "param":
        n = rnd.choice(nodes)
        if g.spec(n).params:
            p = rnd.choice(g.spec(n).params)
            try:
                editor.set_param(n, p.name, sample_value(p, rnd))
            except EditRefused:
                pass
        return kind
    if kind == "move":
        n = rnd.choice(nodes)
        editor.move({n: (g.pos(n), (rnd.randint(-900, 900), rnd.randint(-900, 900)))})
        return kind
    if kind == "rename":
        try:
            editor.rename(rnd.choice(nodes), f"n{rnd.randint(0, 99)}")
        except EditRefused:
            pass
        return kind
    if kind == "paste":
        editor.paste(editor.copy_records(rnd.sample(nodes, min(len(nodes), 3))))
        return kind
    from graph.layout import layered_positions
    editor.move({n: (g.pos(n), xy) for n, xy in layered_positions(g, wrap=rnd.choice([None, 3])).items()},
                "arrange")
    return "arrange"


def block_edit(editor: Editor, rnd: random.Random, kind: str) -> str:
    """A library block inserted as the palette does, a block renamed, or an inner node's
    parameter exposed (a new block parameter, or added to one), through app/block_commands."""
    from app import block_commands as B
    from graph import library
    doc, g = editor.doc, editor.g
    try:
        if kind == "library":
            entry = rnd.choice([e for e in library.shipped() if e.ok])
            B.add_from_library(doc, entry.key, (rnd.randint(-500, 500), rnd.randint(-300, 300)))
        elif kind == "rename_block":
            if not len(doc.graph.blocks):
                return "none"
            B.rename_block(doc, rnd.choice(doc.graph.blocks.names()), f"b{rnd.randint(0, 9)}")
        else:  # expose: inside the definition shown, else in any
            block = g.owner or (rnd.choice(doc.graph.blocks.names()) if len(doc.graph.blocks)
                                else None)
            inner = doc.graph.blocks[block].graph if block else None
            found = [(n, p.name) for n in (inner.nodes() if inner else [])
                     for p in inner.spec(n).params]
            if not found:
                return "none"
            node, param = rnd.choice(found)
            d = doc.graph.blocks[block]
            if d.exposed and rnd.random() < 0.4:
                B.add_to_exposed(doc, block, rnd.choice(d.exposed).name, node, param)
            elif d.exposed and rnd.random() < 0.2:
                B.unexpose(doc, block, rnd.choice(d.exposed).name)
            else:
                B.expose(doc, block, node, param, rnd.choice(["channels", "width", "p", "k"]))
    except EditRefused:
        return "refused"
    return kind


@pytest.mark.parametrize("seed", range(6))
def test_fifty_random_edits_undo_to_identical_json_and_redo(qapp, seed, CNN):
    doc = Document(load(CNN), CNN)
    editor = Editor(doc)
    rnd = random.Random(seed)
    original = doc.project.to_json()
    kinds = [random_edit(editor, rnd) for _ in range(50)]
    assert len(set(kinds)) >= 6, kinds  # a real mix
    edited = doc.project.to_json()
    steps = doc.undo.count()
    assert steps >= 30
    while doc.undo.canUndo():
        doc.undo.undo()
    assert doc.project.to_json() == original
    while doc.undo.canRedo():
        doc.undo.redo()
    assert doc.project.to_json() == edited
    assert load_text(edited).to_json() == edited  # the edited project is itself a valid file


@pytest.mark.parametrize("seed", range(8))
def test_random_block_edits_undo_and_redo_byte_for_byte_wherever_the_canvas_is(qapp, seed,
                                                                               CNN):
    """Group, ungroup, open a definition and edit inside it, repeat: each undo step gives
    back the JSON before it, from wherever the canvas stands, and the redos the JSON after."""
    doc = Document(load(CNN), CNN)
    editor = Editor(doc)
    rnd = random.Random(100 + seed)
    states = [doc.project.to_json()]
    editor.group(["conv2", "relu2"])  # at least one block, opened at once for odd seeds
    states.append(doc.project.to_json())
    if seed % 2:
        doc.open_block(editor.g.nodes()[-1])
    kinds = []
    for _ in range(60):
        before = doc.undo.count()
        kinds.append(random_edit(editor, rnd))
        if doc.undo.count() > before:
            states.append(doc.project.to_json())
        assert doc.project.to_json() == states[-1]  # navigation changes nothing
    assert len(set(kinds)) >= 6, kinds
    for k in range(len(states) - 1, 0, -1):
        if rnd.random() < 0.3 and doc.frames:
            doc.go_to(0)
        doc.undo.undo()
        assert doc.project.to_json() == states[k - 1]
    while doc.undo.canRedo():
        doc.undo.redo()
    assert doc.project.to_json() == states[-1]
    assert load_text(states[-1]).to_json() == states[-1]


def load_text(text):
    from graph.project import loads
    return loads(text)


def test_title_shows_file_and_unsaved_mark(win, tmp_path, answers, CNN):
    win.open_path(CNN, ask=False)
    assert win.windowTitle() == "cnn.json[*] — LayerLoom" and not win.isWindowModified()
    win.editor.set_param("conv1", "out_channels", 8)
    assert win.isWindowModified()
    win.a_undo.trigger()
    assert not win.isWindowModified()


def test_save_close_reopen_gives_the_same_graph(win, tmp_path, answers, qtbot, CNN):
    win.open_path(CNN, ask=False)
    win.editor.set_param("conv1", "out_channels", 24)
    win.editor.add_node("Dropout", (100, 600))
    answers.save_path = str(tmp_path / "mine")
    win.a_save_as.trigger()
    assert (tmp_path / "mine.json").is_file()
    assert win.windowTitle().startswith("mine.json") and not win.isWindowModified()
    saved = win.doc.project.to_json()
    win.close()
    assert answers.asked == []  # nothing unsaved: no question
    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert w2.recent_files()[0] == str((tmp_path / "mine.json").resolve())
    w2.open_path(tmp_path / "mine.json", ask=False)
    assert w2.doc.project.to_json() == saved
    assert w2.doc.graph.params("conv1")["out_channels"] == 24
    assert set(w2.scene.nodes) == set(w2.doc.graph.nodes()) and len(w2.scene.edges) == 12


def test_unsaved_changes_ask_before_closing_or_replacing(win, answers, tmp_path, CNN):
    win.open_path(CNN, ask=False)
    win.editor.set_param("conv1", "out_channels", 8)
    answers.save_changes = "cancel"
    win.a_new.trigger()
    assert answers.asked == ["save_changes"] and win.doc.path == CNN  # kept
    assert not win.close()
    answers.save_changes = "discard"
    win.a_new.trigger()
    assert win.doc.path is None and len(win.doc.graph) == 0
    win.open_path(CNN, ask=False)
    win.editor.set_param("conv1", "out_channels", 8)
    answers.save_changes = "save"
    win.a_new.trigger()  # saved to its own file, then replaced by a new document
    assert load(CNN).graph.params("conv1")["out_channels"] == 8
    assert win.doc.path is None
    win.editor.add_node("ReLU", (0, 0))  # an untitled document asks where to save
    answers.save_path = str(tmp_path / "saved.json")
    win.a_new.trigger()
    assert load(tmp_path / "saved.json").graph.nodes() == ["relu1"]


def test_bad_file_gives_a_message_and_keeps_the_window(win, tmp_path, answers, CNN):
    bad = tmp_path / "bad.json"
    bad.write_text("{ truncated")
    win.open_path(CNN, ask=False)
    before = win.doc.project.to_json()
    assert not win.open_path(bad, ask=False)
    assert answers.errors and str(bad) in answers.errors[0][1]
    assert win.doc.path == CNN and win.doc.project.to_json() == before


def test_save_failure_keeps_work(win, tmp_path, answers, monkeypatch, CNN):
    win.open_path(CNN, ask=False)
    win.editor.set_param("conv1", "out_channels", 8)
    answers.save_path = str(tmp_path / "nope" / "x.json")  # folder does not exist
    assert not win.save_as()
    assert answers.errors and "Cannot save" in answers.errors[0][0]
    assert win.isWindowModified() and win.doc.graph.params("conv1")["out_channels"] == 8


def test_layout_is_remembered(qtbot, win):
    win.docks["code"].hide()
    win.resize(701, 555)  # within the offscreen screen: restoreGeometry clamps to it
    win.close()
    w2 = MainWindow()
    qtbot.addWidget(w2)
    w2.show()
    assert w2.size().width() == 701 and w2.docks["code"].isHidden()


def test_template_gallery_lists_every_template(win, qtbot, CNN):
    from app.gallery import TemplateGallery
    from templates import list_templates
    dlg = TemplateGallery(win)
    qtbot.addWidget(dlg)
    names = [dlg.list.item(i).text() for i in range(dlg.list.count())]
    assert names == [t.name for t in list_templates()]
    assert not dlg.list.item(0).icon().isNull()
    dlg.list.setCurrentRow(2)
    assert "max-pool" in dlg.description.text()
    win.open_template(dlg.chosen().path)
    assert win.doc.path is None and win.doc.project.name == "CNN"  # an untitled copy
    assert "(unsaved)" in win.windowTitle() and len(win.doc.graph) == 13


CRASHER = """
import os, sys
from PySide6.QtWidgets import QApplication, QComboBox, QLineEdit, QPlainTextEdit
from app.mainwindow import MainWindow
app = QApplication([])
w = MainWindow()
w.open_path(sys.argv[1], ask=False)
w.editor.set_param("conv1", "out_channels", 20)
w.editor.add_node("Dropout", (0, 700))
w.autosave()
sys.stdout.write(w.doc.project.to_json())
sys.stdout.flush()
os._exit(3)  # a crash: no clean-up runs
"""


def test_autosave_then_crash_then_restore(qtbot, answers, home, CNN, monkeypatch):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LAYERLOOM_HOME=str(home),
               PYTHONFAULTHANDLER="1")  # a crash prints where it happened
    r = subprocess.run([sys.executable, "-c", CRASHER, str(CNN)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    unsaved = r.stdout
    files = list((home / "recovery").glob("*.json"))
    assert len(files) == 1
    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert w2.offer_recovery()
    assert "restore" in answers.asked
    assert w2.doc.project.to_json() == unsaved
    assert w2.doc.path == CNN and w2.isWindowModified()
    assert not files[0].exists()
    assert w2.doc.graph.params("conv1")["out_channels"] == 20


def test_running_sessions_are_not_offered_and_clean_close_removes_the_file(win, home, CNN):
    win.open_path(CNN, ask=False)
    win.editor.set_param("conv1", "out_channels", 20)
    win.autosave()
    assert recovery.pending() == []  # its owner (this process) is alive
    win.doc.undo.setClean()
    win.close()
    assert list((home / "recovery").glob("*.json")) == []


def test_autosave_timer_writes_every_interval(qtbot, home, CNN):
    w = MainWindow(autosave_ms=50)
    qtbot.addWidget(w)
    w.open_path(CNN, ask=False)
    w.editor.set_param("conv1", "out_channels", 9)
    qtbot.waitUntil(lambda: len(list((home / "recovery").glob("*.json"))) == 1, timeout=3000)


def run_gui(project, home, after_open: str, *flags: str):
    """`layerloom gui PROJECT [FLAGS]` in a fresh offscreen process; `after_open` (indented
    lines, with `self` the window) runs once the file is open. Returns the CompletedProcess."""
    code = ("import os, signal, sys\nfrom PySide6.QtCore import QTimer\n"
            "from PySide6.QtWidgets import QApplication\n"
            "import app.mainwindow as mw\norig = mw.MainWindow.open_path\n"
            "def op(self, p, ask=True):\n    r = orig(self, p, ask)\n" + after_open +
            "    return r\nmw.MainWindow.open_path = op\n"
            "from app.cli import main\nsys.exit(main(['gui', *sys.argv[1:]]))\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LAYERLOOM_HOME=str(home),
               PYTHONFAULTHANDLER="1")  # a crash prints where it happened
    return subprocess.run([sys.executable, "-c", code, str(project), *flags], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_gui_command_opens_the_file(tmp_path, CNN):
    """`layerloom gui FILE` starts, opens FILE, and quits cleanly (offscreen)."""
    r = run_gui(CNN, tmp_path, "    print('OPENED', self.doc.path, len(self.doc.graph), flush=True)\n"
                               "    QTimer.singleShot(0, QApplication.instance().quit)\n")
    assert r.returncode == 0, r.stderr
    assert f"OPENED {CNN} 13" in r.stdout


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_gui_train_flag_opens_the_file_and_trains_it(tmp_path, CNN):
    """`layerloom gui FILE --train`: the run starts by itself once the window is up, after the
    window's own torch import (app/warmup.py); the test quits at the first step."""
    r = run_gui(CNN, tmp_path,
                "    from app.warmup import warmup\n"
                "    def on_event(ev):\n"
                "        if ev.kind == 'step':\n"
                "            print('STEP', ev.step, warmup().done.is_set(), flush=True)\n"
                "            self.trainer.stop()\n"
                "    self.trainer.event.connect(on_event)\n"
                "    self.trainer.stateChanged.connect(lambda s: s == 'idle' and QTimer.singleShot("
                "0, QApplication.instance().quit))\n", "--train")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "STEP 10 True" in r.stdout, r.stdout + r.stderr


def test_no_display_gives_a_clear_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY",
                                                             "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "app.cli"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "no display found" in r.stderr and "Traceback" not in r.stderr


def test_a_graph_without_positions_is_laid_out_on_open(win, tmp_path):
    from graph.project import Project
    from tests.graphs import cnn_graph
    path = tmp_path / "scripted.json"
    Project(graph=cnn_graph()).save(path)  # every node at (0, 0), as a script writes it
    win.open_path(path, ask=False)
    g = win.doc.graph
    assert len({g.pos(n) for n in g.nodes()}) == len(g)
    assert not win.isWindowModified()  # placing nodes is not an edit
    for e in g.edges():
        if g.pos(e.src)[1] == g.pos(e.dst)[1]:
            assert g.pos(e.src)[0] < g.pos(e.dst)[0]


def test_a_shipped_template_opens_as_an_untitled_copy(win):
    from templates import FOLDER
    assert win.open_path(FOLDER / "cnn.json", ask=False)
    assert win.doc.path is None and win.doc.project.name == "CNN"
    assert "template" in win.status.text()


def test_sigterm_keeps_unsaved_work_for_the_next_start(tmp_path, home, CNN):
    """The app killed politely (SIGTERM): no prompt, the work waits in a recovery file."""
    r = run_gui(CNN, home, "    self.editor.set_param('conv1', 'out_channels', 12)\n"
                           "    QTimer.singleShot(300, lambda: os.kill(os.getpid(), signal.SIGTERM))\n")
    assert r.returncode == 0, r.stderr
    found = recovery.pending()
    assert len(found) == 1 and found[0].project.graph.params("conv1")["out_channels"] == 12
    assert "leaked" not in r.stderr


# The project's name ------------------------------------------------------------------------------

def test_first_save_names_the_project_after_its_file(win, answers, tmp_path):
    assert win.doc.project.name == "Untitled"
    win.editor.add_node("Input", (0, 0))
    answers.save_path = str(tmp_path / "my_net.json")
    win.a_save_as.trigger()
    assert win.doc.project.name == "my_net"
    assert load(tmp_path / "my_net.json").name == "my_net"
    assert win.inspector._fields["__project_name__"].text() == "my_net"
    answers.save_path = str(tmp_path / "copy.json")  # a later Save As keeps the name
    win.a_save_as.trigger()
    assert load(tmp_path / "copy.json").name == "my_net"


def test_template_copy_is_named_after_its_file_on_first_save(win, answers, tmp_path):
    win.open_template(TEMPLATE)
    answers.save_path = str(tmp_path / "digits_cnn.json")
    win.a_save.trigger()
    assert load(tmp_path / "digits_cnn.json").name == "digits_cnn"


def test_the_name_is_edited_in_the_inspector_with_nothing_selected(win, answers, tmp_path,
                                                                     qtbot):
    win.a_properties.trigger()  # File > Project Properties
    name = win.inspector.findChild(QLineEdit, "project_name")
    assert name is not None
    qtbot.waitUntil(name.isVisible)
    qtbot.waitUntil(name.hasFocus)
    name.setText("Digit reader")
    name.editingFinished.emit()
    assert win.doc.project.name == "Digit reader"
    assert win.windowTitle().startswith("Digit reader (unsaved)")
    assert win.a_undo.text() == "&Undo Rename the project to 'Digit reader'"
    name.setText("two\nlines")
    name.editingFinished.emit()
    assert "one line" in win.inspector.error.text() and win.doc.project.name == "Digit reader"
    desc = win.inspector.findChild(QPlainTextEdit, "project_description")
    desc.setFocus()
    desc.setPlainText("Reads 8 x 8 digits.")
    name.setFocus()  # leaving the box commits it
    qtbot.waitUntil(lambda: win.doc.project.description == "Reads 8 x 8 digits.")
    answers.save_path = str(tmp_path / "file_name.json")
    win.a_save_as.trigger()  # a name the user chose is kept
    assert load(tmp_path / "file_name.json").name == "Digit reader"
    win.a_undo.trigger()
    win.a_undo.trigger()
    assert win.doc.project.name == "Untitled"
    assert win.inspector._fields["__project_name__"].text() == "Untitled"


def test_undo_labels_are_words(win, tmp_path):
    p = load(TEMPLATE)
    path = tmp_path / "cnn.json"
    p.save(path)
    win.open_path(path, ask=False)
    win.editor.set_param("conv1", "kernel_size", 5)
    assert win.a_undo.text() == "&Undo Set conv1's kernel size to 5"
    combo = win.training.findChild(QComboBox, "bind_label")
    combo.setCurrentIndex(combo.findData(""))
    assert win.a_undo.text() == "&Undo Unbind label"
    combo = win.training.findChild(QComboBox, "bind_label")  # the form was rebuilt
    combo.setCurrentIndex(combo.findData("y"))
    assert win.a_undo.text() == "&Undo Bind label to y"
    win.editor.set_setting("training", "lr", 0.05)
    assert win.a_undo.text() == "&Undo Set the learning rate to 0.05"
    win.editor.set_setting("training", "clip_norm", None)
    win.editor.set_setting("training", "clip_norm", 1.0)
    assert win.a_undo.text() == "&Undo Set the gradient clipping to 1"
    node = win.editor.add_node("Dropout", (0, 0))
    assert win.a_undo.text() == f"&Undo Add Dropout '{node}'"


def test_runs_made_before_the_first_save_move_beside_the_project(win, answers, tmp_path):
    """A run folder made while the project had no file (its runs live under LAYERLOOM_HOME)
    is listed after Save As, beside the project."""
    from runtime.runs import list_runs
    win.open_template(TEMPLATE)
    unsaved = win.runs_root()
    run = unsaved / "20261203-101010"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"format": "layerloom.run", "status": "finished",
                                              "steps": 12, "started": "2026-12-03T10:10:10"}))
    win._refresh_runs()
    assert win.training.runs.count() == 1
    answers.save_path = str(tmp_path / "saved.json")
    win.a_save_as.trigger()
    assert win.runs_root() == tmp_path / "runs" / "saved"
    assert [r.name for r in list_runs(win.runs_root())] == ["20261203-101010"]
    assert win.training.runs.count() == 1 and not unsaved.exists()
    assert "moved" in win.status.text()


def test_two_unsaved_projects_do_not_share_runs(win):
    a = win.runs_root()
    win.a_new.trigger()
    assert win.runs_root() != a


def test_help_has_a_guide_and_every_shortcut(win, qtbot):
    from PySide6.QtCore import Qt
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win)
    qtbot.keyClick(win, Qt.Key_F1)
    qtbot.waitUntil(lambda: getattr(win, "help_window", None) is not None
                    and win.help_window.isVisible())
    text = win.help_window.text.toPlainText()
    assert "Getting started" in text and "F5" in text and "Export" in text
    assert "folder of your own images with one subfolder per class" in text  # issue 23, 19
    win.help_window.close()
    win.a_shortcuts.trigger()
    qtbot.waitUntil(lambda: win.help_window.isVisible())
    text = win.help_window.text.toPlainText()
    from app.guide import shortcut_rows
    rows = dict(shortcut_rows(win))
    for what, keys in (("Run", "F5"), ("Stop", "Shift+F5"), ("Pause / Resume", "F6"),
                       ("Undo", "Ctrl+Z"), ("Export", "Ctrl+E"), ("Arrange (auto-layout)",
                                                                  "Ctrl+L"),
                       ("Getting Started", "F1"), ("Delete", "Del or Backspace")):
        assert rows.get(what) == keys, (what, rows.get(what))
        assert f"{what}\n{keys}" in text
    assert "Space + drag" in text


def test_gallery_previews_fill_their_frame_four_a_row(win, qtbot):
    """Issue 23, item 19: wide templates were a thin strip, two previews a row."""
    import numpy as np
    from app.gallery import PREVIEW, TemplateGallery
    dlg = TemplateGallery(win)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    rows = {}
    for i in range(dlg.list.count()):
        rows.setdefault(dlg.list.visualItemRect(dlg.list.item(i)).top(), []).append(i)
    assert len(next(iter(rows.values()))) >= 4  # previews a row
    for i in range(dlg.list.count()):
        img = dlg.list.item(i).icon().pixmap(PREVIEW).toImage().convertToFormat(
            dlg.list.item(i).icon().pixmap(PREVIEW).toImage().Format.Format_RGB32)
        a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.width(), 4)
        drawn = np.nonzero((np.abs(a[..., :3].astype(int) - [0xf4, 0xf1, 0xee]).sum(-1) > 30)
                           .any(1))[0]  # rows with something other than the background
        assert drawn.max() - drawn.min() >= 0.45 * img.height(), dlg.list.item(i).text()

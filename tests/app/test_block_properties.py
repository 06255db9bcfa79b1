"""Block properties in the inspector (issue 25): a definition's name, title, help and exposed
parameters; "Expose as block parameter…" on an inner node's field; the name typed after
Ctrl+G; each edit undone byte for byte. Through the real widgets."""
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton, QSpinBox, QTreeWidget

from tests.app.test_blocks_app import double_click, select

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def CNN(tmp_path):
    import shutil
    return Path(shutil.copy(ROOT / "templates" / "cnn.json", tmp_path / "cnn.json"))


def field(win, name, kind=QLineEdit):
    return win.inspector.findChild(kind, name)


def type_into(w, text):
    w.setFocus()
    w.selectAll()
    QTest.keyClicks(w, text)
    QTest.keyClick(w, Qt.Key_Return)
    from shiboken6 import isValid
    if isValid(w):  # offscreen, focus may not move; the commit is idempotent
        w.editingFinished.emit()
    QApplication.processEvents()


def menu_choice(win, monkeypatch, text, name=None):
    """The next context menu: choose the action `text` (and answer the name dialog)."""
    chosen = []

    def run(menu, _where):
        acts = {a.text(): a for a in menu.actions()}
        chosen.append(list(acts))
        acts[text].trigger()
    monkeypatch.setattr(type(win.inspector), "_exec_menu", lambda self, m, w: run(m, w))
    monkeypatch.setattr(type(win.inspector), "ask_exposed_name", lambda self, t, s: name or s)
    return chosen


def right_click(win, pname):
    w = win.inspector._fields[pname]
    w.customContextMenuRequested.emit(QPoint(3, 3))
    QApplication.processEvents()


def group(win, nodes):
    select(win, nodes)
    win.a_group.trigger()
    QApplication.processEvents()
    [inst] = win.scene.selected_nodes()
    return inst


def test_after_ctrl_g_the_block_name_is_ready_to_type_and_every_instance_follows(win, CNN):
    win.open_path(CNN, ask=False)
    before = win.doc.project.to_json()
    inst = group(win, ["conv2", "relu2"])
    grouped = win.doc.project.to_json()
    w = field(win, "block_name")
    assert w is win.inspector._fields["__block__"] and w.text() == "block1"
    assert w.selectedText() == "block1"  # selected: typing replaces it
    win.editor.add_node("block:block1", (0, 600))  # a second instance
    type_into(w, "stage")
    g = win.doc.graph
    assert list(g.blocks) == ["stage"] and g.blocks["stage"].title == "stage"
    assert {g.node_type(n) for n in (inst, "block2")} == {"block:stage"}
    assert win.inspector._fields["__block__"].text() == "stage"
    win.palette.refresh_project()
    assert [it.text(0) for it in win.palette.block_items("project")] == ["stage"]
    win.a_undo.trigger()
    win.a_undo.trigger()
    assert win.doc.project.to_json() == grouped
    win.a_undo.trigger()
    assert win.doc.project.to_json() == before
    # a name taken or not an identifier: refused in words
    group(win, ["conv2", "relu2"])
    type_into(field(win, "block_name"), "no way")
    assert "Refused" in win.inspector.error.text() and list(win.doc.graph.blocks) == ["block1"]


def test_inside_a_definition_the_inspector_shows_and_edits_the_block(win, CNN):
    win.open_path(CNN, ask=False)
    inst = group(win, ["conv2", "relu2"])
    grouped = win.doc.project.to_json()
    double_click(win, inst)
    assert win.doc.frames == [("block1", inst)]
    win.scene.clearSelection()
    QApplication.processEvents()
    assert win.inspector.title.text() == "Block" and field(win, "block_name").text() == "block1"
    type_into(field(win, "block_title"), "Conv stage")
    assert win.doc.graph.blocks["block1"].title == "Conv stage"
    box = win.inspector._fields["__block_doc__"]
    box.setPlainText("Two layers")
    box.editingFinished.emit()
    assert win.doc.graph.blocks["block1"].doc == "Two layers"
    assert win.crumbs.text() == f"Project > {inst} (Conv stage)"
    # renamed from inside: the canvas stays in the definition
    type_into(field(win, "block_name"), "stage")
    assert win.doc.frames == [("stage", inst)] and win.doc.shown_graph.owner == "stage"
    assert field(win, "block_name").text() == "stage"
    for _ in range(3):
        win.a_undo.trigger()
    assert win.doc.project.to_json() == grouped
    QApplication.processEvents()
    assert field(win, "block_name").text() == "block1"
    assert field(win, "block_title").text() == "block1"


def test_expose_a_parameter_the_instance_sets_it_and_undo_gives_the_same_file(
        win, CNN, monkeypatch):
    win.open_path(CNN, ask=False)
    inst = group(win, ["conv1", "relu1", "pool1", "conv2"])
    grouped = win.doc.project.to_json()
    double_click(win, inst)
    select(win, ["conv1"])
    chosen = menu_choice(win, monkeypatch, "Expose as block parameter…", "channels")
    right_click(win, "out_channels")
    assert chosen == [["Expose as block parameter…"]]
    d = win.doc.graph.blocks["block1"]
    assert [x.to_dict() for x in d.exposed] == [
        {"name": "channels", "targets": ["conv1.out_channels"], "default": 16}]
    exposed = win.doc.project.to_json()
    # the second conv: "Add to block parameter 'channels'" (same kind)
    select(win, ["conv2"])
    chosen = menu_choice(win, monkeypatch, "Add to block parameter 'channels'")
    right_click(win, "out_channels")
    assert "Expose as block parameter…" in chosen[0]
    assert d.exposed[0].targets == ("conv1.out_channels", "conv2.out_channels")
    # exposed already: the menu offers to stop
    chosen = menu_choice(win, monkeypatch, "Stop exposing (block parameter 'channels')")
    right_click(win, "out_channels")
    assert d.exposed[0].targets == ("conv1.out_channels",)
    win.a_undo.trigger()
    both = win.doc.project.to_json()
    # the block's properties list it
    win.scene.clearSelection()
    QApplication.processEvents()
    tree = field(win, "block_params", QTreeWidget)
    row = tree.topLevelItem(0)
    assert (row.text(0), row.text(1), row.text(2)) == (
        "channels", "conv1.out_channels, conv2.out_channels", "16")
    # the instance shows it, and setting it reaches both convs
    win.leave_block()
    select(win, [inst])
    w = win.inspector._fields["channels"]
    assert isinstance(w, QSpinBox) and w.value() == 16
    w.setValue(24)
    w.editingFinished.emit()
    win.doc.reanalyse()
    assert win.doc.graph.params(inst)["channels"] == 24
    assert win.doc.analysis.out_type(inst, "y").shape[1] == 24
    win.a_undo.trigger()
    assert win.doc.project.to_json() == both
    win.a_undo.trigger()
    assert win.doc.project.to_json() == exposed
    win.a_undo.trigger()
    assert win.doc.project.to_json() == grouped
    QApplication.processEvents()
    assert "channels" not in win.inspector._fields  # the instance's form follows
    win.a_redo.trigger()
    win.a_redo.trigger()
    assert win.doc.project.to_json() == both
    # removed from the block's properties
    double_click(win, inst)
    win.scene.clearSelection()
    QApplication.processEvents()
    tree = field(win, "block_params", QTreeWidget)
    tree.setCurrentItem(tree.topLevelItem(0))
    field(win, "block_param_remove", QPushButton).click()
    assert win.doc.graph.blocks["block1"].exposed == ()
    QApplication.processEvents()  # (the properties reload once per event-loop turn)
    assert field(win, "block_params", QTreeWidget).topLevelItemCount() == 0
    win.a_undo.trigger()
    assert win.doc.project.to_json() == both


def test_a_parameter_name_taken_is_refused_in_words(win, CNN, monkeypatch):
    win.open_path(CNN, ask=False)
    inst = group(win, ["conv2", "relu2"])
    double_click(win, inst)
    select(win, ["conv2"])
    menu_choice(win, monkeypatch, "Expose as block parameter…", "repeat")
    right_click(win, "out_channels")
    assert "Refused" in win.inspector.error.text()
    assert win.doc.graph.blocks["block1"].exposed == ()


def test_selecting_a_library_block_in_the_palette_shows_its_help(win):
    [item] = [it for it in win.palette.block_items("shipped") if it.text(0) == "Conv-BN-ReLU"]
    win.palette.tree.setCurrentItem(item)
    text = win.help.toPlainText()
    assert text.startswith("Conv-BN-ReLU") and "Blocks" in text
    assert win.palette.graph is win.doc.graph  # handed over by the window, no polling
    win.a_new.trigger()
    assert win.palette.graph is win.doc.graph


def test_removing_a_node_a_block_parameter_sets_keeps_the_file_loadable(win, CNN):
    """Deleting an inner node drops the block parameters' targets on it in the same undo
    step (a parameter setting nothing would make a file that cannot be opened again);
    grouping such a node is refused in words (graph/grouping.py)."""
    from app import block_commands as B
    from graph.project import loads
    win.open_path(CNN, ask=False)
    inst = group(win, ["conv1", "relu1", "pool1", "conv2"])
    double_click(win, inst)
    B.expose(win.doc, "block1", "conv1", "out_channels", "channels")
    B.add_to_exposed(win.doc, "block1", "channels", "conv2", "out_channels")
    B.expose(win.doc, "block1", "pool1", "kernel_size", "pool")
    before = win.doc.project.to_json()
    select(win, ["conv2", "relu1"])
    assert "would leave it nothing to set" in str(
        pytest.raises(B.EditRefused, win.editor.group, ["conv2", "relu1"]).value)
    select(win, ["conv1", "pool1"])
    win.delete_selection()
    [x] = win.doc.graph.blocks["block1"].exposed
    assert x.to_dict() == {"name": "channels", "targets": ["conv2.out_channels"],
                           "default": 16}
    loads(win.doc.project.to_json())
    win.a_undo.trigger()
    assert win.doc.project.to_json() == before

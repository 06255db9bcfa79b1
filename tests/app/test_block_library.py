"""The palette's Blocks section (issue 25, item 5): the project's definitions, the shipped
library and the user's; a library block placed and undone byte for byte; a broken library
file listed as unusable with its reason; a project block saved to the library."""
from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPointF

from graph import library
from tests.graphs import basic_block


@pytest.fixture
def win(qtbot, answers):
    from app.mainwindow import MainWindow
    w = MainWindow()
    qtbot.addWidget(w)
    # the window hands the palette its document's graph (no polling)
    return w


def titles(palette, key):
    return [it.text(0) for it in palette.block_items(key)]


def test_the_section_lists_the_shipped_blocks(win):
    shipped = titles(win.palette, "shipped")
    assert "Transformer encoder layer" in shipped and "Conv-BN-ReLU" in shipped
    assert len(shipped) == len(library.shipped())
    assert titles(win.palette, "project") == [] and titles(win.palette, "user") == []
    win.palette.filter.setText("transformer")
    visible = [it.text(0) for it in win.palette.block_items("shipped") if not it.isHidden()]
    assert visible == ["Transformer decoder layer", "Transformer encoder layer"]
    assert win.palette.groups["project"].isHidden()
    win.palette.filter.setText("")


def test_inserting_a_library_block_then_undo_gives_the_same_file(win):
    g = win.doc.graph
    g.add_node("Input", "img", {"shape": [3, 16, 16]})
    win.doc.undo.clear()
    before = win.doc.project.to_json()
    [item] = [it for it in win.palette.block_items("shipped") if it.text(0) == "Conv-BN-ReLU"]
    win.palette.tree.itemDoubleClicked.emit(item, 0)  # the same path as a drop
    assert list(g.blocks) == ["conv_bn_relu"]
    [node] = [n for n in g.nodes() if n != "img"]
    assert g.node_type(node) == "block:conv_bn_relu"
    win.palette.refresh_project()
    assert titles(win.palette, "project") == ["Conv-BN-ReLU"]
    after = win.doc.project.to_json()
    win.a_undo.trigger()
    assert win.doc.project.to_json() == before
    win.a_redo.trigger()
    assert win.doc.project.to_json() == after
    # dropped again: the identical definition is reused, one more instance
    win._add_node("library:shipped/conv_bn_relu.json", QPointF(400, 300))
    assert list(g.blocks) == ["conv_bn_relu"] and len(g.nodes()) == 3
    win.a_undo.trigger()
    win.a_undo.trigger()
    assert win.doc.project.to_json() == before
    # a project block placed from the palette: an instance only
    win.a_redo.trigger()
    win._add_node("block:conv_bn_relu", QPointF(0, 0))
    assert len(g.nodes()) == 3


def test_a_broken_file_in_the_users_library_is_listed_as_unusable(win, home):
    folder = home / "blocks"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.json").write_text('{"format": "layerloom.block", "schema": 2, '
                                        '"name": "b", "nodes": [{"id": "q", "type": "Nope"}]}')
    win.palette.refresh_library()
    [item] = win.palette.block_items("user")
    assert item.text(0) == "broken.json (unusable)"
    assert "unknown node type 'Nope'" in item.toolTip(0)
    assert "cannot be used" in item.toolTip(0)
    win.palette.tree.itemDoubleClicked.emit(item, 0)  # nothing happens, nothing breaks
    assert win.doc.graph.nodes() == []


def test_save_a_project_block_to_the_library(win, home, monkeypatch):
    basic_block(win.doc.graph)
    win.palette.refresh_project()
    assert titles(win.palette, "project") == ["Basic block"]
    failures = []
    monkeypatch.setattr(win.palette, "show_failure", failures.append)
    monkeypatch.setattr(win.palette, "ask_replace", lambda name: False)
    assert win.palette.save_to_library("basic")
    assert json.loads((home / "blocks" / "basic.json").read_text())["name"] == "basic"
    assert titles(win.palette, "user") == ["Basic block"]
    assert not win.palette.save_to_library("basic") and failures == []  # not replaced
    monkeypatch.setattr(win.palette, "ask_replace", lambda name: True)
    assert win.palette.save_to_library("basic")
    win.doc.graph.add_block("empty")
    assert not win.palette.save_to_library("empty")
    assert "Could not save 'empty'" in failures[0] and "Block output" in failures[0]


def test_dropping_a_library_block_on_the_canvas(win):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    from app.palette import node_mime
    before = win.doc.project.to_json()
    mime = node_mime("library:shipped/transformer_encoder_layer.json")
    enter = QDragEnterEvent(QPointF(300, 200).toPoint(), Qt.CopyAction, mime, Qt.LeftButton,
                            Qt.NoModifier)
    QApplication.sendEvent(win.view.viewport(), enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(300, 200), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(win.view.viewport(), drop)
    [node] = win.doc.graph.nodes()
    assert win.doc.graph.node_type(node) == "block:transformer_encoder_layer"
    assert node in win.scene.nodes
    assert win.doc.undo.undoText().startswith("Add Transformer encoder layer")
    win.a_undo.trigger()
    assert win.doc.project.to_json() == before and node not in win.scene.nodes

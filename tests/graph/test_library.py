"""The block library (issue 25, item 5): shipped and user entries, insert into a project (reuse,
rename, undo), save, unusable files; each shipped block analysed, compiled and run; the
block-built Transformer encoder layer equals nn.TransformerEncoderLayer."""
from __future__ import annotations

import json

import pytest

from graph import library
from graph.analysis import analyse
from graph.library_blocks import build
from graph.model import Graph
from graph.project import Project, loads
from tests.graphs import basic_block


def entry(name: str) -> library.Entry:
    e = library.find(f"shipped/{name}.json")
    assert e.ok, e.problem
    return e


def test_the_shipped_files_are_what_the_builder_writes():
    for file, text in build.texts().items():
        assert (library.SHIPPED / file).read_text(encoding="utf-8") == text, file
    assert sorted(p.name for p in library.SHIPPED.glob("*.json")) == sorted(build.texts())


def test_entries_list_shipped_then_user_with_their_source(tmp_path):
    es = library.entries(tmp_path)
    assert {e.name for e in es} == set(build.BUILDERS)
    assert all(e.ok and e.source == "shipped" and e.title and e.doc for e in es)
    g = Graph()
    basic_block(g, "mine")
    path = library.save(g, "mine", tmp_path)
    assert path == tmp_path / "blocks" / "mine.json"
    [user] = library.user_entries(tmp_path)
    assert (user.name, user.title, user.source) == ("mine", "Basic block", "user")
    assert library.entries(tmp_path)[-1].key == "user/mine.json"


def test_home_follows_layerloom_home(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLOOM_HOME", str(tmp_path))
    assert library.home() == tmp_path and library.user_folder() == tmp_path / "blocks"
    monkeypatch.delenv("LAYERLOOM_HOME")
    assert library.home().parts[-2:] == ("LayerLoom", "LayerLoom")


@pytest.mark.parametrize("text, reason", [
    ("{not json", "is not valid JSON (line 1"),
    ("[1, 2]", "top level is not an object"),
    ('{"format": "layerloom.project", "schema": 2}', "is not a block file"),
    ('{"format": "layerloom.block", "schema": 99, "name": "a"}', "newer LayerLoom"),
    ('{"format": "layerloom.block", "schema": 2}', "name: this field is required"),
    ('{"format": "layerloom.block", "schema": 2, "name": "a", "nodes": '
     '[{"id": "q", "type": "Nope"}]}', "unknown node type 'Nope'"),
    ('{"format": "layerloom.block", "schema": 2, "name": "a", "nodes": '
     '[{"id": "q", "type": "block:b"}]}', "nodes[0] ('q').type: unknown block 'block:b'"),
    ('{"format": "layerloom.block", "schema": 2, "name": "a", "nodes": '
     '[{"id": "q", "type": "BlockInput"}]}', "has no Block output node"),
])
def test_an_unusable_file_is_listed_with_its_reason(tmp_path, text, reason):
    folder = tmp_path / "blocks"
    folder.mkdir()
    (folder / "bad.json").write_text(text)
    [e] = library.user_entries(tmp_path)
    assert not e.ok and reason in e.problem, e.problem
    assert e.name == "bad" and e.key == "user/bad.json"
    with pytest.raises(library.LibraryError, match="cannot be used"):
        library.insert(Graph(), e)


def test_insert_copies_reuses_an_identical_definition_and_renames_on_a_clash():
    p = Project()
    g = p.graph
    before = p.to_json()
    added = []
    assert library.insert(g, entry("resnet_basic"), added) == "resnet_basic"
    assert added == ["resnet_basic"]
    again = []
    assert library.insert(g, entry("resnet_basic"), again) == "resnet_basic"  # identical
    assert again == []
    g.set_block_info("resnet_basic", title="Edited")
    assert library.insert(g, entry("resnet_basic"), again) == "resnet_basic_2"
    assert again == ["resnet_basic_2"] and g.blocks["resnet_basic_2"].title == \
        "ResNet basic block"
    assert library.insert(g, entry("resnet_basic")) == "resnet_basic_2"  # reuses the copy
    removed = library.remove_added(g, again)
    removed += library.remove_added(g, added)
    assert p.to_json() == before
    library.restore(g, removed[1:])
    library.restore(g, removed[:1])
    assert list(g.blocks) == ["resnet_basic", "resnet_basic_2"]
    # the project file holds the copies: it opens without the library
    assert loads(p.to_json()).graph.blocks["resnet_basic_2"].to_dict() == \
        g.blocks["resnet_basic_2"].to_dict()


def test_save_and_insert_a_nested_block_with_its_dependencies(tmp_path):
    from graph.blocks import Exposed
    g = Graph()
    basic_block(g)
    st = g.add_block("stage", "Stage")
    s = st.graph
    s.add_node("BlockInput", "x")
    s.add_node("block:basic", "b0")
    s.add_node("block:basic", "b1")
    s.add_node("BlockOutput", "y")
    s.connect("x", "out", "b0", "x")
    s.connect("b0", "y", "b1", "x")
    s.connect("b1", "y", "y", "x")
    g.set_block_info("stage", exposed=[Exposed("width", ("b0.channels", "b1.channels"), 8)])
    path = library.save(g, "stage", tmp_path)
    raw = json.loads(path.read_text())
    assert raw["name"] == "stage" and [b["name"] for b in raw["blocks"]] == ["basic"]
    with pytest.raises(library.LibraryError, match="already has a block named 'stage'"):
        library.save(g, "stage", tmp_path)
    g.set_block_info("stage", title="Stage two")
    library.save(g, "stage", tmp_path, replace=True)
    [e] = library.user_entries(tmp_path)
    assert e.title == "Stage two"

    other = Graph()
    other.add_block("basic", "Someone else's")  # a clash: the dependency is renamed
    added = []
    name = library.insert(other, e, added)
    assert name == "stage" and added == ["basic_2", "stage"]
    assert other.blocks["stage"].graph.node_type("b0") == "block:basic_2"
    other.add_node("Input", "img", {"shape": [8, 8, 8]})
    other.add_node("block:stage", "layer1")
    other.connect("img", "out", "layer1", "x")
    a = analyse(other)
    assert a.ok, a.issues
    assert a.out_type("layer1", "y").shape == ("N", 8, 8, 8)


def test_save_refuses_an_unknown_or_broken_block(tmp_path):
    g = Graph()
    with pytest.raises(library.LibraryError, match="no block 'x'"):
        library.save(g, "x", tmp_path)
    g.add_block("empty")
    with pytest.raises(library.LibraryError, match="Block output"):
        library.save(g, "empty", tmp_path)
    assert not (tmp_path / "blocks" / "empty.json").exists()

"""A sweep's search entries follow the graph: a renamed node's entry is renamed with it, and
a removed node's entry is not written (the file would refuse to load), but comes back when the
removal is undone (restore_node)."""
import json
from pathlib import Path

from graph.project import load

MLP = Path(__file__).resolve().parents[2] / "templates" / "mlp.json"
LR = {"target": "training.lr", "kind": "float", "low": 1e-3, "high": 0.1, "log": True}
WIDTH = {"target": "fc1.out_features", "kind": "int", "low": 8, "high": 128}


def _project(tmp_path):
    d = json.loads(MLP.read_text())
    d["search"] = [LR, WIDTH]
    f = tmp_path / "mlp.json"
    f.write_text(json.dumps(d))
    return load(f)


def test_a_renamed_node_keeps_its_search_entry(tmp_path):
    p = _project(tmp_path)
    p.graph.rename_node("fc1", "hidden")
    assert [e.target for e in p.search] == ["training.lr", "hidden.out_features"]
    p.save(tmp_path / "renamed.json")
    assert [e.target for e in load(tmp_path / "renamed.json").search] == \
        ["training.lr", "hidden.out_features"]


def test_a_removed_nodes_entry_is_not_written_and_an_undo_brings_it_back(tmp_path):
    p = _project(tmp_path)
    rec = p.graph.remove_node("fc1")
    p.save(tmp_path / "removed.json")
    assert [e.target for e in load(tmp_path / "removed.json").search] == ["training.lr"]
    p.graph.restore_node(rec)
    p.save(tmp_path / "restored.json")
    assert [e.target for e in load(tmp_path / "restored.json").search] == \
        ["training.lr", "fc1.out_features"]


def test_settings_that_change_no_result_are_not_searched():
    """A sweep's trials run in one process, and compile or the device change only speed:
    such a setting is refused in words, naming the ones that can be searched."""
    import pytest

    from graph.search import SearchError, parse_entry, searchable_settings, target_kind
    g = load(MLP).graph
    for name in ("processes", "compile", "device"):
        assert name not in searchable_settings()
        with pytest.raises(SearchError, match=f"'{name}' is not searched"):
            target_kind(g, f"training.{name}")
    assert target_kind(g, "training.lr") == "float"
    assert parse_entry("training.lr=1e-4..1e-1:log", g).target == "training.lr"

import errno
import json
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph import catalogue
from graph.model import Graph, GraphError
from graph.project import SCHEMA, Project, ProjectError, load, loads
from tests.graphs import cnn_graph
from tests.params import sample_value

TYPES = sorted(catalogue.SPECS)


def test_round_trip_of_a_template_is_byte_identical(tmp_path):
    folder = os.path.join(os.path.dirname(__file__), "..", "..", "templates")
    for name in sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".json")):
        path = os.path.join(folder, f"{name}.json")
        text = open(path, encoding="utf-8").read()
        p = load(path)
        assert p.to_json() == text
        p.save(tmp_path / "copy.json")
        assert (tmp_path / "copy.json").read_text(encoding="utf-8") == text


def random_edits(seed: int, n_ops: int) -> Graph:
    rnd = random.Random(seed)
    g = Graph()
    for _ in range(n_ops):
        nodes = g.nodes()
        op = rnd.choice(["add", "add", "connect", "connect", "connect", "remove", "param",
                         "move", "rename"])
        try:
            if op == "add" or not nodes:
                t = rnd.choice(TYPES)
                spec = catalogue.get(t)
                params = {p.name: sample_value(p, rnd) for p in spec.params if rnd.random() < 0.5}
                g.add_node(t, params=params, pos=(rnd.uniform(-500, 500), rnd.randint(-9, 9)))
            elif op == "connect":
                s, d = rnd.choice(nodes), rnd.choice(nodes)
                outs, ins = g.spec(s).outputs, g.spec(d).inputs
                if outs and ins:
                    g.connect(s, rnd.choice(outs).name, d, rnd.choice(ins).name)
            elif op == "remove":
                g.remove_node(rnd.choice(nodes))
            elif op == "param":
                n = rnd.choice(nodes)
                if g.spec(n).params:
                    p = rnd.choice(g.spec(n).params)
                    g.set_param(n, p.name, sample_value(p, rnd))
            elif op == "move":
                g.move_node(rnd.choice(nodes), (rnd.random() * 100, -rnd.random()))
            elif op == "rename":
                g.rename_node(rnd.choice(nodes), f"n{rnd.randint(0, 50)}")
        except GraphError:
            pass  # refused edits are part of the game
    return g


def check_invariants(g: Graph) -> None:
    import networkx as nx
    from graph.model import id_problem
    assert nx.is_directed_acyclic_graph(g.nx)
    for n in g.nodes():
        assert id_problem(n) is None
        spec = g.spec(n)
        for port in spec.inputs:
            if not port.multi:
                assert len(g.in_edges(n, port.name)) <= 1
    for e in g.edges():
        assert g.spec(e.src).output(e.src_port) is not None
        assert g.spec(e.dst).input(e.dst_port) is not None
        assert g.spec(e.src).output(e.src_port).kind == g.spec(e.dst).input(e.dst_port).kind


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(1, 60))
def test_random_edits_keep_invariants_and_save_load_is_identity(seed, n_ops):
    g = random_edits(seed, n_ops)
    check_invariants(g)
    p = Project(graph=g, name="Random", description="ünïcode ✓")
    text = p.to_json()
    q = loads(text)
    assert q.to_json() == text
    assert q.graph.nodes() == g.nodes()
    assert q.graph.edges() == g.edges()
    for n in g.nodes():
        assert q.graph.params(n) == g.params(n)
        assert q.graph.pos(n) == g.pos(n)


# Bad files ----------------------------------------------------------------------------------

def write(tmp_path, text, name="bad.json"):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def error_of(path) -> str:
    with pytest.raises(ProjectError) as info:
        load(path)
    return str(info.value)


GOOD = Project(graph=cnn_graph()).to_json()


@pytest.mark.parametrize("text, expected", [
    ("", "the file is empty"),
    ("   \n", "the file is empty"),
    (GOOD[: len(GOOD) // 2], "not valid JSON"),
    ("{\"format\": ", "looks cut short"),
    ("[1, 2]", "expected a JSON object, found a list"),
    ("{\"format\": \"other\"}", "not a LayerLoom project"),
    ("{\"format\": \"layerloom.project\"}", "schema: a whole number >= 1 is needed"),
    ("{\"format\": \"layerloom.project\", \"schema\": 99}", "newer LayerLoom (file schema 99; "
                                                         f"this version reads up to {SCHEMA})"),
    (GOOD.replace('"type": "Conv2d"', '"type": "Conv4d"', 1),
     "nodes[1] ('conv1').type: unknown node type 'Conv4d'"),
    (GOOD.replace('"kernel_size": 3', '"kernal_size": 3', 1),
     "nodes[1] ('conv1'): Conv2d has no parameter 'kernal_size'"),
    (GOOD.replace('"pos": [0, 0]', '"pos": ["a", 0]', 1),
     "nodes[0] ('image').pos[0]: Input should be a valid number"),
    (GOOD.replace('"from": "image.out"', '"from": "image"', 1),
     "edges[0].from: must look like node.port"),
    (GOOD.replace('"from": "image.out"', '"from": "imagex.out"', 1),
     "there is no node 'imagex'"),
    (GOOD.replace('"to": "conv1.x"', '"to": "conv1.input"', 1),
     "Conv2d 'conv1' has no input port 'input' (it has: x)"),
    (GOOD.replace('"lr": 0.001', '"lr": -1', 1), "training.lr: Input should be greater than 0"),
    (GOOD.replace('"optimizer": "adam"', '"optimizer": "rmsprop"', 1), "training.optimizer"),
    (GOOD.replace('"id": "relu1"', '"id": "relu 1"', 1), "nodes[2].id"),
    (GOOD.replace('"id": "relu1"', '"id": "conv1"', 1), "already exists"),
    (GOOD.replace('"version": 1', '"version": 7', 1), "Input version 7 comes from a newer"),
    (GOOD.replace(f'"schema": {SCHEMA},', f'"schema": {SCHEMA}, "extra": 3,', 1),
     "extra: unknown field"),
])
def test_bad_files_give_one_clear_message(tmp_path, text, expected):
    f = write(tmp_path, text)
    msg = error_of(f)
    assert msg.startswith(str(f) + ":")
    assert expected in msg
    assert "Traceback" not in msg and "\n" not in msg


def test_unreadable_paths(tmp_path):
    assert "no such file" in error_of(tmp_path / "missing.json")
    assert "is a folder" in error_of(tmp_path)
    binary = tmp_path / "weights.json"
    binary.write_bytes(b"\x80\x81\xfe\x00" * 10)
    assert "not a text file" in error_of(binary)


def test_duplicated_edge(tmp_path):
    d = json.loads(GOOD)
    d["edges"].append(d["edges"][0])
    assert "the same wire appears twice" in error_of(write(tmp_path, json.dumps(d)))


def test_binding_to_a_missing_node_is_kept_not_fatal(tmp_path):
    """A node deleted after it was bound leaves its binding: the file still opens."""
    d = json.loads(GOOD)
    d["data"]["bind"] = {"pixels": "x", "label": "y"}
    p = load(write(tmp_path, json.dumps(d)))
    assert p.data.bind == {"pixels": "x", "label": "y"}
    assert loads(p.to_json()).to_json() == p.to_json()


def test_hand_edited_out_of_range_param_loads_and_validation_reports_it(tmp_path):
    from graph.analysis import analyse
    p = load(write(tmp_path, GOOD.replace('"kernel_size": 3', '"kernel_size": 0', 1)))
    [issue] = [i for i in analyse(p.graph).errors]
    assert issue.node == "conv1" and "kernel size must be >= 1 (got 0)" in issue.message


# Atomic saves -------------------------------------------------------------------------------

def test_full_disk_mid_save_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "model.json"
    target.write_text(GOOD, encoding="utf-8")
    p = Project(graph=Graph(), name="Other")

    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        p.save(target)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_text(encoding="utf-8") == GOOD
    assert os.listdir(tmp_path) == ["model.json"]  # no temp file left behind


def test_crash_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    import graph.fileio as fio
    target = tmp_path / "model.json"
    target.write_text(GOOD, encoding="utf-8")
    real_replace = os.replace

    def crash(*a):
        raise KeyboardInterrupt  # the process dies between write and rename
    monkeypatch.setattr(fio.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        Project(graph=Graph()).save(target)
    monkeypatch.setattr(fio.os, "replace", real_replace)
    assert target.read_text(encoding="utf-8") == GOOD
    assert os.listdir(tmp_path) == ["model.json"]


def temps_of_killed_saves(folder, name):
    """What saves killed in the past left: a temp of a writer that is gone, one of the
    naming scheme without a pid from before this process; and a stranger's dot-file."""
    import subprocess
    import time
    gone = subprocess.Popen(["true"])
    gone.wait()
    old = time.time() - 3600
    made = [folder / f".{name}.{gone.pid}.k2j3h4g5.tmp", folder / f".{name}.a9b8c7d6.tmp"]
    for f in made + [folder / f".{name}.swp"]:
        f.write_text(GOOD[:20], encoding="utf-8")
        os.utime(f, (old, old))
    return made


@pytest.mark.parametrize("how", ["load", "save"])
def test_load_and_save_clean_the_temps_of_killed_saves(tmp_path, how):
    target = tmp_path / "model.json"
    target.write_text(GOOD, encoding="utf-8")
    temps_of_killed_saves(tmp_path, "model.json")
    load(target) if how == "load" else Project(graph=cnn_graph()).save(target)
    assert sorted(os.listdir(tmp_path)) == [".model.json.swp", "model.json"]


def test_save_keeps_file_mode(tmp_path):
    target = tmp_path / "model.json"
    target.write_text(GOOD, encoding="utf-8")
    os.chmod(target, 0o640)
    Project(graph=cnn_graph()).save(target)
    assert os.stat(target).st_mode & 0o777 == 0o640


def test_no_pickle_anywhere():
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[2]
    for folder in ("graph", "runtime", "app", "templates"):
        for f in (root / folder).rglob("*.py"):
            text = f.read_text(encoding="utf-8")
            assert "import pickle" not in text and "torch.load(" not in text, f

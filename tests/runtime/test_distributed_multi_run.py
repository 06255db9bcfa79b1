"""An app run in several processes, without the window (runtime/multi_run.py): rank 0's events
read back from the shared folder; a failing process's error as the run's Failed event."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from graph.project import loads
from runtime import distributed as D
from runtime.events import EpochEnd, Failed, Started, Step
from runtime.multi_run import event_from_dict, refusal, run_in_processes
from runtime.watch_events import BoundaryFrame

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "templates" / "mlp.json"


def test_events_come_back_from_their_dicts():
    for ev in (Step(3, 1, 0.5, 0.01, 1200.0, {"a": 1.0}, 0.25),
               EpochEnd(1, 25, {"loss": 0.4, "val_loss": float("nan")}, 1.5),
               Started("cpu", "CPU", 2, 25, 50, 800, 200, 4482, ["fc1"], "supervised"),
               Failed("bad", 4, "fc1"),
               BoundaryFrame(5, 1, 2, (-1.0, 1.0, -2.0, 2.0), bytes([0, 1, 1, 0]),
                             bytes([1, 0]), 2, [[0.5, 0.5]], [1], final=True)):
        back = event_from_dict(json.loads(json.dumps(ev.to_dict())))
        assert type(back) is type(ev)
        if ev.kind != "epochend":  # (NaN is not equal to itself)
            assert back == ev  # bytes and tuples as they were
        assert json.dumps(back.to_dict()) == json.dumps(ev.to_dict())
    assert event_from_dict({"event": "nosuch"}) is None


def _mlp(**training):
    p = json.loads(MLP.read_text())
    p["training"].update(training)
    return loads(json.dumps(p)), json.dumps(p)


def test_recipes_that_cannot_run_in_processes_are_said_before_launching():
    assert refusal(_mlp(processes=2)[0]) is None
    assert "cannot run in several processes" in refusal(_mlp(recipe="sam", processes=2)[0])
    project, text = _mlp(recipe="sam", processes=2)
    events = list(run_in_processes({"project": text, "run_dir": "unused"}, project,
                                   threading.Event()))
    assert [e.kind for e in events] == ["failed"]


@pytest.mark.slow
def test_a_failing_process_ends_the_run_with_its_error(tmp_path, monkeypatch):
    monkeypatch.setenv(D.FAIL_ENV, "1")
    project, text = _mlp(processes=2, epochs=50)
    events = list(run_in_processes({"project": text, "run_dir": str(tmp_path / "run")},
                                   project, threading.Event()))
    last = events[-1]
    assert last.kind == "failed", last
    assert last.message.startswith("process 1: ") and "failed on purpose" in last.message
    assert sum(e.kind == "failed" for e in events) == 1

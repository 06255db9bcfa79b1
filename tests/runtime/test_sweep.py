"""Sweeps (issue 29): the search space in the project file, `layerloom sweep`, the study's
journal, pruning, failed trials, and resuming a killed sweep."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph.project import ProjectError, load, loads
from graph.search import SearchError, apply_values, parse_entry

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "templates" / "mlp.json"
LR = {"target": "training.lr", "kind": "float", "low": 1e-3, "high": 0.1, "log": True}
WIDTH = {"target": "fc1.out_features", "kind": "int", "low": 8, "high": 128}


def mlp_project(tmp_path: Path, search=(LR, WIDTH), **training) -> Path:
    d = json.loads(MLP.read_text())
    d["search"] = list(search)
    d["training"].update(training)
    f = tmp_path / "mlp.json"
    f.write_text(json.dumps(d))
    return f


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "app.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


# The search space in the project file ---------------------------------------------------------

def test_search_round_trips_and_is_written_only_when_set(tmp_path):
    f = mlp_project(tmp_path)
    p = load(f)
    assert [e.target for e in p.search] == ["training.lr", "fc1.out_features"]
    assert loads(p.to_json()).to_json() == p.to_json()
    assert '"search"' in p.to_json()
    assert '"search"' not in load(MLP).to_json()


@pytest.mark.parametrize("entry, words", [
    ({"target": "fcX.out_features", "kind": "int", "low": 8, "high": 16},
     "search[0] ('fcX.out_features'): there is no node 'fcX'"),
    ({"target": "fc1.width", "kind": "int", "low": 8, "high": 16},
     "Linear 'fc1' has no parameter 'width'"),
    ({"target": "fc1.out_features", "kind": "float", "low": 8, "high": 16},
     "takes whole numbers, so a float range does not fit it"),
    ({"target": "fc1.init", "kind": "int", "low": 1, "high": 3},
     "search[0] ('fc1.init'): takes no range of numbers"),
    ({"target": "fc1.out_features", "kind": "int", "low": 16, "high": 8},
     "'fc1.out_features': low (16) must be below high (8)"),
    ({"target": "fc1.out_features", "kind": "int", "low": 0, "high": 8},
     "the value 0: out features must be >= 1"),
    ({"target": "training.lr", "kind": "float", "low": 0.0, "high": 1.0, "log": True},
     "a log range needs low > 0"),
    ({"target": "training.nope", "kind": "float", "low": 0.1, "high": 1.0},
     "there is no training setting 'nope'"),
    ({"target": "training.optimizer", "kind": "categorical", "choices": ["adam", "rmsprop"]},
     "the value \"rmsprop\""),
    ({"target": "training.lr", "kind": "categorical", "low": 0.1, "choices": [0.1]},
     "a categorical entry takes choices, not low"),
])
def test_search_entries_refused_in_words(tmp_path, entry, words):
    with pytest.raises(ProjectError) as e:
        load(mlp_project(tmp_path, search=[entry]))
    assert words in str(e.value) and "search[0]" in str(e.value)


def test_search_twice_the_same_target_refused(tmp_path):
    with pytest.raises(ProjectError, match=r"search\[1\] \('training.lr'\): the target "
                                           "appears twice"):
        load(mlp_project(tmp_path, search=[LR, LR]))


def test_command_line_entries():
    g = load(MLP).graph
    e = parse_entry("fc1.out_features=8..64", g)
    assert (e.kind, e.low, e.high, e.log) == ("int", 8, 64, False)  # the target's kind
    e = parse_entry("training.lr=1e-4..0.1:log", g)
    assert (e.kind, e.log) == ("float", True)
    assert parse_entry("training.batch_size=8..64:int:log", g).kind == "int"
    e = parse_entry("training.optimizer=adam,minibatch", g)
    assert e.kind == "categorical" and e.choices == ["adam", "minibatch"]
    assert parse_entry("fc1.bias=true,false", g).choices == [True, False]
    for bad, words in (("fc1.out_features", "expected TARGET=LOW..HIGH"),
                       ("training.lr=a..1", "'a' is not a number"),
                       ("training.lr=1..0.1", "low (1) must be below high (0.1)"),
                       ("training.lr=0.1..1:sqrt", "unknown flag ':sqrt'")):
        with pytest.raises(SearchError, match=re.escape(words)):
            parse_entry(bad, g)


def test_apply_values_goes_through_the_mutators_and_validation():
    p = load(MLP)
    events = []
    p.graph.subscribe(events.append)
    apply_values(p, {"fc1.out_features": 17, "training.lr": 0.05})
    assert p.graph.params("fc1")["out_features"] == 17 and p.training.lr == 0.05
    assert len(events) == 1
    with pytest.raises(SearchError, match="training.lr = 20"):
        apply_values(p, {"training.lr": 20})


@pytest.mark.parametrize("args, words", [
    (["--trials", "2"], "nothing to search"),
    (["--trials", "2", "--search", "fcX.out_features=8..16"],
     "search[0] ('fcX.out_features'): there is no node 'fcX'"),
    (["--trials", "2", "--search", "training.lr"], "expected TARGET="),
    (["--trials", "2", "--resume"], "no sweep to resume"),
    (["--trials", "2", "--resume", "--sampler", "grid"], "a resumed sweep keeps"),
    (["--trials", "0"], "--trials must be at least 1"),
    (["--trials", "2", "--search", "training.lr=0.1..1", "--metric", "bogus"],
     "no such metric"),
])
def test_cli_refuses_bad_input_with_exit_2(tmp_path, capsys, args, words):
    from app.cli import main
    f = mlp_project(tmp_path, search=[])
    assert main(["sweep", str(f), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("*.journal"))


def test_cli_refusal_as_a_user_meets_it(tmp_path):
    r = cli("sweep", mlp_project(tmp_path), "--trials", "2", "--search", "fc1.out_features=0..8")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "search[1] ('fc1.out_features'): the value 0: out features must be >= 1" in r.stderr


# Sweeps in process ---------------------------------------------------------------------------

def _sweep(f, trials, **kw):
    from runtime.sweep import Sweep, SweepConfig
    resume = kw.pop("resume", False)
    search = kw.pop("search", None)
    return Sweep(load(f), f, SweepConfig(trials=trials, **kw), search=search, resume=resume)


def _drain(sweep):
    return [ev for ev in sweep.run() if ev.kind == "trialended"]


def test_invalid_trial_is_recorded_failed_with_its_message(tmp_path):
    bad = {"target": "fc2.in_features", "kind": "categorical", "choices": [None, 7]}
    f = mlp_project(tmp_path, search=[bad])
    sweep = _sweep(f, 1, max_steps=1, baseline=False)
    sweep.study.enqueue_trial({"fc2.in_features": 7})
    ended = _drain(sweep)
    assert [e.state for e in ended] == ["failed"]
    (t,) = sweep.study.trials
    assert t.state.name == "FAIL"
    assert "fc2" in t.user_attrs["message"] and "7" in t.user_attrs["message"]
    run = json.loads((sweep.root / t.user_attrs["run"] / "run.json").read_text())
    assert run["status"] == "failed" and run["sweep"]["trial"] == 0
    s = sweep.summary()
    assert (s.trials, s.failed, s.best) == (1, 1, None)


def test_a_sweep_counts_its_trials_and_keeps_them_in_the_journal(tmp_path):
    f = mlp_project(tmp_path)
    sweep = _sweep(f, 2, sampler="random", pruner="none", max_steps=2)
    ended = _drain(sweep)
    assert [e.index for e in ended] == [1, 2] and all(e.state == "complete" for e in ended)
    assert ended[0].params == {"training.lr": 0.01, "fc1.out_features": 64}  # the project
    for e in ended:  # each an ordinary run, with its own folder
        assert (sweep.root / e.run / "epochs.csv").is_file()
        assert (sweep.root / e.run / "checkpoints" / "last").is_dir()
        # no live views watch a trial: no dead-unit statistics were taken
        assert not (sweep.root / e.run / "activations.csv").exists()
    again = _sweep(f, 2, resume=True)  # nothing missing: nothing runs
    assert _drain(again) == [] and again.summary().complete == 2
    assert again.journal == sweep.journal


@pytest.mark.slow
def test_mlp_sweep_of_8_trials_is_at_least_the_unswept_project(tmp_path):
    from runtime.train import Trainer
    f = mlp_project(tmp_path)
    final = None
    for ev in Trainer(load(f), epochs=4).run():
        if ev.kind == "finished":
            final = ev.metrics["val_accuracy"]
    sweep = _sweep(f, 8, metric="val_accuracy", epochs=4)
    ended = _drain(sweep)
    s = sweep.summary()
    assert len(ended) == 8 and s.trials == 8 and s.complete + s.pruned + s.failed == 8
    assert s.complete >= 2
    assert s.best["values"][0] >= final
    assert {p["training.lr"] for p in [e.params for e in ended]} != {0.01}  # it searched


@pytest.mark.slow
def test_median_pruner_prunes_a_deliberately_bad_trial(tmp_path):
    lr = {"target": "training.lr", "kind": "float", "low": 1e-7, "high": 0.1, "log": True}
    f = mlp_project(tmp_path, search=[lr])
    sweep = _sweep(f, 4, metric="val_accuracy", pruner="median", epochs=4, baseline=False)
    for v in (0.01, 0.02, 0.03, 1e-7):
        sweep.study.enqueue_trial({"training.lr": v})
    ended = _drain(sweep)
    assert [e.state for e in ended] == ["complete", "complete", "complete", "pruned"]
    run = json.loads((sweep.root / ended[-1].run / "run.json").read_text())
    assert run["status"] == "stopped" and run["epoch"] < 4  # its run stopped early


@pytest.mark.slow
def test_sigkill_mid_trial_then_resume(tmp_path):
    f = mlp_project(tmp_path, search=[LR])
    args = ("sweep", f, "--trials", "4", "--epochs", "25", "--pruner", "none",
            "--sampler", "random", "--no-progress")
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    root = tmp_path / "runs" / "mlp"
    try:
        lines = []
        while len(lines) < 2:  # two trials ended
            line = proc.stdout.readline()
            assert line, "the sweep ended early"
            if line.startswith("trial "):
                lines.append(line)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the third trial is training
            runs = sorted(p for p in root.iterdir() if p.is_dir())
            if len(runs) == 3 and (runs[-1] / "epochs.csv").is_file():
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    from runtime.sweep import Sweep, SweepConfig, journals
    (journal,) = journals(root)
    before = Sweep(load(f), f, SweepConfig(trials=4), resume=True)  # marks the interrupted
    kept = {t.number: t.values for t in before.counted()}
    assert len(kept) == 2 and all(t.state.name == "COMPLETE" for t in before.counted())
    r = cli("sweep", f, "--trials", "4", "--resume", "--json", "--no-progress")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert (result["trials"], result["complete"], result["interrupted"]) == (4, 4, 1)
    after = Sweep(load(f), f, SweepConfig(trials=4), resume=True)
    assert {t.number: t.values for t in after.counted() if t.number in kept} == kept
    interrupted = [t for t in after.study.trials if t.user_attrs.get("interrupted")]
    assert [t.number for t in interrupted] == [2]
    retry = [t for t in after.study.trials if t.user_attrs.get("retry_of") == 2]
    assert retry and retry[0].params == interrupted[0].params  # its values tried again
    run = json.loads((root / interrupted[0].user_attrs["run"] / "run.json").read_text())
    assert run["status"] == "failed"
    assert len(after.counted()) == 4 and journals(root) == [journal]

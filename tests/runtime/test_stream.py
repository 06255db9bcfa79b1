"""Streamed data (issue 27 item 1): lazy datasets (runtime/data/stream.py, stream_sources.py)
read through DataLoader workers (runtime/loader.py), against the in-memory path."""
import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from graph.project import load
from graph.settings import DataSettings
from runtime.data import DataError, load_dataset
from runtime.data import stream as S
from runtime.data.stream import Column, SlowSource, StreamDataset
from runtime.train import Trainer

TEMPLATES = Path(__import__("templates").FOLDER)


def folder(root: Path, per_class: int = 12, side: int = 8) -> Path:
    """Two classes of grey PNG images a small CNN tells apart (stripes either way)."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(["across", "down"]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            yy, xx = np.mgrid[0:side, 0:side]
            a = ((yy if k == 0 else xx) % 2) * 200 + rng.normal(30, 20, (side, side))
            Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def cnn(options: dict, dataset: str = "images", **data):
    p = load(TEMPLATES / "cnn.json")
    p.data = DataSettings(dataset=dataset, options=options, bind={"image": "x", "label": "y"},
                          **data)
    p.training.epochs = 2
    p.training.batch_size = 8
    return p


def run(p, tmp_path, **kw):
    events = list(Trainer(p, base_dir=tmp_path, device="cpu", log_every=1, **kw).run())
    assert events[-1].kind == "finished", getattr(events[-1], "message", events[-1])
    return events


def losses(events):
    return [e.loss for e in events if e.kind == "step"]


IMG = {"path": "imgs", "channels": 1, "height": 8, "width": 8}


def test_streamed_image_folder_trains_as_in_memory(tmp_path):
    folder(tmp_path / "imgs")
    ds = load_dataset("images", {**IMG, "streaming": "on"}, 0, tmp_path)
    assert isinstance(ds, StreamDataset) and isinstance(ds.fields["x"], Column)
    mem = run(cnn({**IMG, "streaming": "off"}), tmp_path)
    streamed = run(cnn({**IMG, "streaming": "on"}, workers=0), tmp_path)
    assert np.allclose(losses(streamed), losses(mem), atol=1e-5, rtol=0)
    a, b = mem[-1].metrics, streamed[-1].metrics
    assert a.keys() == b.keys()
    assert all(abs(a[k] - b[k]) < 1e-5 for k in a), (a, b)
    epochs = [e for e in streamed if e.kind == "epochend"]
    assert [e.metrics["val_accuracy"] for e in epochs] == \
        [e.metrics["val_accuracy"] for e in mem if e.kind == "epochend"]


@pytest.mark.slow
def test_streamed_image_folder_with_two_workers_and_the_cache(tmp_path):
    folder(tmp_path / "imgs")
    mem = run(cnn({**IMG, "streaming": "off"}), tmp_path)
    two = run(cnn({**IMG, "streaming": "on"}, workers=2, cache=True), tmp_path)
    assert np.allclose(losses(two), losses(mem), atol=1e-4)


def test_streamed_npz_trains_as_in_memory(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((40, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))).astype(np.int64)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    monkey = pytest.MonkeyPatch()
    monkey.setattr(S, "SMALL_FIELD", 1000)  # x read per sample, memory-mapped
    try:
        ds = load_dataset("npz", {"path": "d.npz", "streaming": "on"}, 0, tmp_path)
        assert isinstance(ds.fields["x"], Column) and isinstance(ds.fields["y"], torch.Tensor)
        mem = run(cnn({"path": "d.npz", "streaming": "off"}, "npz"), tmp_path)
        streamed = run(cnn({"path": "d.npz", "streaming": "on"}, "npz", workers=0), tmp_path)
    finally:
        monkey.undo()
    assert np.allclose(losses(streamed), losses(mem), atol=1e-5, rtol=0)


def test_compressed_npz_is_refused_in_words(tmp_path):
    np.savez_compressed(tmp_path / "c.npz", x=np.zeros((4, 2)), y=np.zeros(4))
    with pytest.raises(DataError, match=r"c\.npz: array 'x' is stored compressed"):
        load_dataset("npz", {"path": "c.npz", "streaming": "on"}, 0, tmp_path)
    assert len(load_dataset("npz", {"path": "c.npz"}, 0, tmp_path)) == 4  # auto: in memory


def test_images_over_the_budget_stream_and_are_never_all_read(tmp_path, monkeypatch):
    folder(tmp_path / "imgs", per_class=20)
    monkeypatch.setattr(S, "STREAM_BUDGET", 10 * 8 * 8 * 4)  # ten images' pixels
    ds = load_dataset("images", IMG, 0, tmp_path)  # 'auto'
    assert isinstance(ds, StreamDataset)
    read = []
    inner = ds.source.sample
    monkeypatch.setattr(ds.source, "sample", lambda i: (read.append(i), inner(i))[1])
    x = ds.fields["x"][torch.tensor([3, 30])]
    assert x.shape == (2, 1, 8, 8) and read == [3, 30]
    small = load_dataset("images", {**IMG, "limit_per_class": 4}, 0, tmp_path)
    assert not isinstance(small, StreamDataset)  # under the budget: in memory


def test_csv_by_offsets_reads_row_k_exactly(tmp_path):
    p = tmp_path / "t.csv"
    rows = [[i, i * 0.25, f"c{i % 3}"] for i in range(50)]
    with open(p, "w", newline="", encoding="utf-8") as f:
        f.write("\ufeff")  # a BOM before the header
        w = csv.writer(f)
        w.writerow(["a", "b", "label"])
        for k, r in enumerate(rows):
            w.writerow(r)
            if k == 10:
                w.writerow([])  # a blank line, skipped
    mem = load_dataset("csv", {"path": "t.csv", "label": "label", "streaming": "off"}, 0, tmp_path)
    ds = load_dataset("csv", {"path": "t.csv", "label": "label", "streaming": "on"}, 0, tmp_path)
    assert isinstance(ds, StreamDataset) and ds.classes == mem.classes
    for k in (0, 10, 11, 37, 49):
        assert torch.equal(ds.fields["x"][k], mem.fields["x"][k])
    assert torch.equal(ds.fields["y"], mem.fields["y"])
    assert torch.equal(ds.fields["x"][:], mem.fields["x"])


def test_csv_bad_cell_is_named_when_read(tmp_path):
    (tmp_path / "t.csv").write_text("a,label\n1,x\noops,y\n", encoding="utf-8")
    ds = load_dataset("csv", {"path": "t.csv", "label": "label", "streaming": "on"}, 0, tmp_path)
    assert ds.fields["x"][0].tolist() == [1.0]
    with pytest.raises(DataError, match=r"t\.csv: line 3, column 'a': 'oops' is not a number"):
        ds.fields["x"][1]


def slow_images(tmp_path):
    """A trainer of 10 images (8 to train on, 2 steps of 4) whose reader sleeps
    `slow.seconds` per sample (a starved pipeline), and that SlowSource (0 s until set)."""
    folder(tmp_path / "imgs", per_class=5)
    p = cnn({**IMG, "streaming": "on"}, workers=0)
    p.training.epochs = 1
    p.training.batch_size = 4
    trainer = Trainer(p, base_dir=tmp_path, device="cpu", log_every=1)
    made = trainer._load_dataset
    box = {}

    def slowed():
        ds = yield from made()
        ds.source = box["slow"] = SlowSource(ds.source, 0.0)
        return ds
    trainer._load_dataset = slowed
    return trainer, box


def test_data_wait_shows_a_starved_pipeline(tmp_path):
    trainer, box = slow_images(tmp_path)
    events = []
    for ev in trainer.run():
        events.append(ev)
        if ev.kind == "started":  # the training steps only: 1.2 s of reading per batch
            box["slow"].seconds = 0.3
        if ev.kind == "step" and ev.step == 2:
            box["slow"].seconds = 0.0
    assert events[-1].kind == "finished", events[-1]
    waits = [e.data_wait for e in events if e.kind == "step"]
    assert waits and min(waits) > 0.5, waits
    mem = run(cnn({**IMG, "streaming": "off"}), tmp_path)
    mem_waits = [e.data_wait for e in mem if e.kind == "step"]
    assert max(mem_waits) < 0.5 and min(mem_waits) >= 0, mem_waits


def test_a_damaged_image_ends_the_run_naming_it(tmp_path):
    folder(tmp_path / "imgs")
    bad = tmp_path / "imgs" / "down" / "5.png"
    bad.write_bytes(bad.read_bytes()[:40])  # cut short
    for workers in (0, 1):
        events = list(Trainer(cnn({**IMG, "streaming": "on"}, workers=workers),
                              base_dir=tmp_path, device="cpu").run())
        assert events[-1].kind == "failed"
        msg = events[-1].message
        assert str(bad) in msg and "Traceback" not in msg, msg


def test_data_settings_workers_and_cache():
    assert DataSettings().workers == "auto" and DataSettings().cache is False
    assert DataSettings(workers=2, cache=True).workers == 2
    for bad in (-1, 65, True, "many"):
        with pytest.raises(ValueError, match="workers"):
            DataSettings(workers=bad)
    p = cnn({})
    assert "workers" not in p.to_dict()["data"] and "cache" not in p.to_dict()["data"]
    p.data.workers, p.data.cache = 0, True
    assert p.to_dict()["data"]["workers"] == 0 and p.to_dict()["data"]["cache"] is True


def _train_in_a_daemon(path, q):
    events = list(Trainer(load(path), device="cpu").run())
    q.put((events[-1].kind, getattr(events[-1], "message", "")))


@pytest.mark.slow
def test_workers_start_inside_the_apps_daemonic_training_process(tmp_path):
    """runtime/worker.py trains in a daemonic process, which may not start children."""
    import multiprocessing as mp
    folder(tmp_path / "imgs")
    p = cnn({**IMG, "path": str(tmp_path / "imgs"), "streaming": "on"}, workers=1)
    p.training.epochs = 1
    p.save(tmp_path / "p.json")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_train_in_a_daemon, args=(str(tmp_path / "p.json"), q),
                       daemon=True)
    proc.start()
    kind, message = q.get(timeout=300)
    proc.join(60)
    assert kind == "finished", message


@pytest.mark.slow
def test_a_stopped_streamed_run_resumes_to_the_uninterrupted_weights(tmp_path):
    folder(tmp_path / "imgs")
    p = cnn({**IMG, "streaming": "on"}, workers=0)
    whole = Trainer(p, base_dir=tmp_path, device="cpu")
    assert list(whole.run())[-1].kind == "finished"
    first = Trainer(p, base_dir=tmp_path, device="cpu", log_every=1)
    for ev in first.run():
        if ev.kind == "step" and ev.step == 4:  # mid-way through the second epoch
            first.stop()
    first.save_checkpoint(tmp_path / "ck")
    second = Trainer(p, base_dir=tmp_path, device="cpu", resume_from=tmp_path / "ck")
    events = list(second.run())
    assert events[-1].kind == "finished", events[-1]
    a, b = whole.compiled.modules.state_dict(), second.compiled.modules.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_try_the_model_on_a_streamed_image_folder(tmp_path):
    """The Try panel's Tryout binds a streamed dataset (runtime/binding.py hands it to
    loader.bound_columns) and shows the run's validation samples."""
    from runtime.tryout import Tryout
    folder(tmp_path / "imgs")
    p = cnn({**IMG, "streaming": "on"}, workers=0)
    t = Trainer(p, base_dir=tmp_path, device="cpu", max_steps=2)
    assert list(t.run())[-1].kind == "finished"
    t.save_checkpoint(tmp_path / "ck")
    mem = load_dataset("images", {**IMG, "streaming": "off"}, 0, tmp_path)
    tr = Tryout(p, tmp_path, tmp_path / "ck")
    val, _ = __import__("runtime.train", fromlist=["split"]).split(len(mem), 0, 0.2)
    assert len(tr) == len(val)
    assert torch.equal(tr.val["image"], mem.fields["x"][val])

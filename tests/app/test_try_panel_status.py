"""The Try panel's status line names what was loaded: 'best of run r1' for a run's
checkpoint, the file itself for weights that are not in a run folder."""
from tests.runtime.test_initial_weights import imported_project


def _load(win, tmp_path, weights):
    panel = win.trypanel
    panel.weights.addItem("other", str(weights))
    panel.weights.setCurrentIndex(panel.weights.count() - 1)
    panel.load()
    panel.wait()
    assert panel.tryout is not None, panel.status.text()
    return panel.status.text()


def test_weights_outside_a_run_folder_are_named_by_their_file(win, qtbot, tmp_path):
    _module, path = imported_project(tmp_path)
    win.open_path(path, ask=False)
    win.try_model()  # loads the starting weights first
    win.trypanel.wait()
    (tmp_path / "w").mkdir()
    other = tmp_path / "w" / "other.safetensors"
    other.write_bytes((tmp_path / "P.safetensors").read_bytes())
    text = _load(win, tmp_path, other)
    assert text.startswith(f"other.safetensors (in {tmp_path / 'w'}): "), text
    assert "of run" not in text
    ck = tmp_path / "runs" / "r1" / "checkpoints" / "best"
    ck.mkdir(parents=True)
    (ck / "model.safetensors").write_bytes(other.read_bytes())
    assert _load(win, tmp_path, ck).startswith("best of run r1: "), text

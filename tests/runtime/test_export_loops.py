"""Exports of a model with a recurrent loop (a block run once per time step, graph/loops.py):
the Python file writes the cell as a class of its own and the loop as RecurrentLoop around it,
with the app's state_dict keys; every format the model is offered in gives the app's outputs
at a batch size and a sequence length the export never saw."""
import subprocess
import sys

import pytest
import torch

from graph.project import load
from runtime.export import export, refused_formats
from runtime.train import Trainer
from runtime.weights import save_weights
from templates import FOLDER
from tests.runtime.test_export import torch_only_venv

TOL = 1e-5


@pytest.fixture(scope="module")
def lstm(tmp_path_factory):
    """lstm_from_gates after a few training steps, its weights in a safetensors file, and
    the model's outputs at batch 7 and T = 9."""
    folder = tmp_path_factory.mktemp("lstm_from_gates")
    project = load(FOLDER / "lstm_from_gates.json")
    t = Trainer(project, device="cpu", max_steps=5)
    assert list(t.run())[-1].kind == "finished"
    save_weights(t.model, folder / "w.safetensors")
    x = torch.rand(7, 9, 2, generator=torch.Generator().manual_seed(3))
    t.model.eval()
    with torch.no_grad():
        y = t.model(x)
    return project, folder / "w.safetensors", x, y, sorted(t.model.state_dict())


def _run_file(py, folder, stem, x):
    torch.save(x, folder / "x.pt")
    code = (f"import torch, sys\nsys.path.insert(0, '.')\nfrom {stem} import load\n"
            "m = load()\nwith torch.no_grad():\n    y = m(torch.load('x.pt'))\n"
            "torch.save(y, 'y.pt')\nprint(sorted(m.state_dict()))")
    r = subprocess.run([str(py), "-c", code], cwd=folder, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return torch.load(folder / "y.pt"), eval(r.stdout)


def test_python_file_writes_the_cell_as_a_class_and_loads_the_apps_weights(lstm, tmp_path):
    project, w, x, y, keys = lstm
    files = export(project, w, "python", tmp_path / "lstm_gates.py")
    text = files[0].read_text()
    assert "class LSTMCell(nn.Module):" in text
    assert "        self.W_f = nn.Linear(in_features=34, out_features=32, bias=True)" in text
    assert "    def forward(self, x, h, c):" in text
    assert "        return (h_t, h_t, C_t)" in text
    assert "class RecurrentLoop(nn.Module):" in text  # copied, as our other ops are
    assert "        self.lstm = RecurrentLoop(\n            LSTMCell(),\n" in text
    assert "layerloom" not in text.lower().replace("exported by layerloom", "")
    got, got_keys = _run_file(sys.executable, tmp_path, "lstm_gates", x)  # a fresh process
    assert got_keys == keys and "lstm.cell.W_f.weight" in keys
    assert got.shape == y.shape == (7, 1)
    assert (got - y).abs().max() <= TOL


@pytest.mark.slow  # the venv with only torch and safetensors (shared with the other tests)
def test_python_file_of_a_loop_in_a_fresh_torch_only_venv(lstm, tmp_path, tmp_path_factory):
    project, w, x, y, keys = lstm
    export(project, w, "python", tmp_path / "lstm_gates.py")
    got, got_keys = _run_file(torch_only_venv(tmp_path_factory), tmp_path, "lstm_gates", x)
    assert got_keys == keys and (got - y).abs().max() <= TOL


def test_the_gru_from_its_gates_is_written_too(tmp_path):
    from runtime.export import trained_model
    project = load(FOLDER / "gru_from_gates.json")
    c = trained_model(project, None)  # its initial weights
    save_weights(c.model, tmp_path / "w.safetensors")
    files = export(project, tmp_path / "w.safetensors", "python", tmp_path / "gru_gates.py")
    text = files[0].read_text()
    assert "class GRUCell(nn.Module):" in text and "    def forward(self, x, h):" in text
    x = torch.rand(3, 11, 2)
    with torch.no_grad():
        y = c.model(x)
    got, keys = _run_file(sys.executable, tmp_path, "gru_gates", x)
    assert keys == sorted(c.model.state_dict()) and (got - y).abs().max() <= TOL


def test_torchscript_scripts_the_loop_and_takes_any_batch_and_length(lstm, tmp_path):
    """The time loop is TorchScript code (the trace would fix T); the archive equals the
    app's model at batch 7 and T = 9 (the export itself checked batch 3 and T = 7)."""
    project, w, x, y, _ = lstm
    [f] = export(project, w, "torchscript", tmp_path / "m.pt")
    m = torch.jit.load(str(f))
    assert "prim::Loop" in str(m.lstm.steps.graph)
    with torch.no_grad():
        assert (m(x) - y).abs().max() <= TOL
        assert m(torch.rand(2, 30, 2)).shape == (2, 1)


def test_onnx_and_pt2_are_refused_up_front_naming_the_formats_that_work():
    why = refused_formats(load(FOLDER / "lstm_from_gates.json"))
    assert set(why) == {"onnx", "pt2"}
    for reason in why.values():
        assert "recurrent loop" in reason
        assert "export the python file, TorchScript (its loop scripted) or the bundle" in reason

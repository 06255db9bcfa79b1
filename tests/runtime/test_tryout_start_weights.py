"""The Try panel's Tryout with starting weights that lack the standardizers (an imported
PROJECT.safetensors under data.standardize): loaded as training loads them
(runtime/start_weights.py), the standardizers fitted on the training split as training does."""
import torch

from graph.project import load
from runtime.train import Trainer
from runtime.tryout import Tryout
from tests.runtime.test_initial_weights import imported_project


def test_imported_weights_try_with_standardizers_fitted_as_training_fits_them(tmp_path):
    _module, path = imported_project(tmp_path, standardize=True)
    project = load(path)
    t = Tryout(project, tmp_path, tmp_path / "P.safetensors")
    std = t.compiled.standardizers["x"]
    got = t.compiled.modules.get_submodule(std).state_dict()
    trainer = Trainer(project, base_dir=tmp_path, max_steps=1)
    assert list(trainer.run())[-1].kind == "finished"
    want = trainer.compiled.modules.get_submodule(std).state_dict()
    assert got.keys() == want.keys()
    for k in got:
        torch.testing.assert_close(got[k], want[k].cpu())
    assert not torch.all(got["std"] == 1)  # fitted, not left at its initial values
    s = t.sample(0)
    assert s.outputs and all(torch.isfinite(v).all() for v in s.outputs.values())


def test_a_file_holding_the_standardizer_keeps_its_values(tmp_path):
    _module, path = imported_project(tmp_path, standardize=True)
    project = load(path)
    trainer = Trainer(project, base_dir=tmp_path, max_steps=1)
    assert list(trainer.run())[-1].kind == "finished"
    std = trainer.compiled.standardizers["x"]
    state = {k: (torch.full_like(v, 0.5) if k.startswith(std + ".") else v).contiguous()
             for k, v in trainer.compiled.modules.state_dict().items()}
    from safetensors.torch import save_file
    save_file(state, tmp_path / "run.safetensors")
    t = Tryout(project, tmp_path, tmp_path / "run.safetensors")
    kept = t.compiled.modules.get_submodule(std).state_dict()
    assert all(torch.all(v == 0.5) for v in kept.values())

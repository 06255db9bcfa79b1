"""DDP and weights the loss does not reach (issue 27 item 3): a layer the objective runs whose
output no loss reads (a second Output's branch) gets no gradient; DDP is told
(find_unused_parameters) so a run in 2 processes neither hangs nor fails."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch

from graph.project import loads
from runtime import distributed as D
from runtime.compile import compile_graph

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "templates" / "mlp.json"


def with_side_branch() -> str:
    """The mlp template with a Linear after relu1 feeding an Output of its own: the model's,
    not the loss's."""
    p = json.loads(MLP.read_text())
    p["nodes"] += [
        {"id": "side", "type": "Linear", "version": 1, "pos": [0, 400],
         "params": {"out_features": 3, "in_features": None, "bias": True, "init": "default"}},
        {"id": "side_out", "type": "Output", "version": 1, "params": {}, "pos": [270, 400]}]
    p["edges"] += [{"from": "relu1.y", "to": "side.x"}, {"from": "side.y", "to": "side_out.x"}]
    return json.dumps(p)


def test_unused_weights_are_found_from_the_loss():
    plain = compile_graph(loads(MLP.read_text()).graph)
    assert not D.unused_by_loss(plain.objective)
    side = compile_graph(loads(with_side_branch()).graph)
    assert "side" in side.objective._modules  # the objective runs it (its Output)...
    assert D.unused_by_loss(side.objective)  # ...but the loss does not read it


def _side_worker(rank: int, port: int, folder: str) -> None:
    from runtime.train import Trainer
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE="2", LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    D.init(torch.device("cpu"))
    try:
        t = Trainer(loads(with_side_branch()), device="cpu", max_steps=6, log_every=1)
        events = list(t.run())
        Path(folder, f"rank{rank}.json").write_text(json.dumps(events[-1].to_dict()))
    finally:
        D.teardown()


@pytest.mark.slow
def test_a_branch_the_loss_does_not_read_trains_in_two_processes(tmp_path):
    import torch.multiprocessing as tmp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp.spawn(_side_worker, args=(port, str(tmp_path)), nprocs=2, join=True, )
    for r in range(2):
        last = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert last["event"] == "finished" and last["step"] == 6, last

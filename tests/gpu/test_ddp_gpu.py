"""DistributedDataParallel at world size 1: nccl on the GPU (gloo for the CPU twin), a store
on local files, the cnn template compiled and wrapped, a few SGD steps on its own data: the
weights equal those of the same steps without DDP (1e-5)."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from runtime.binding import bind_data
from runtime.compile import compile_graph
from runtime.data import load_dataset
from tests.gpu.common import ROOT, devices, record_detail, small_project

STEPS, BATCH = 5, 32


def _steps(objective, params, data, device):
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    losses = []
    for k in range(STEPS):
        batch = [t[k * BATCH:(k + 1) * BATCH].to(device) for t in data]
        torch.manual_seed(k)  # the same dropout masks in both runs
        opt.zero_grad(set_to_none=True)
        loss = objective(*batch)["loss"]
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return torch.stack(losses).cpu()


@pytest.mark.parametrize("device", devices(cpu_marks=(pytest.mark.slow,)))  # twin: ~6 s
def test_ddp_world_size_1_equals_the_plain_run(device, tmp_path):
    if not dist.is_available():
        pytest.skip("this torch has no torch.distributed")
    backend = "nccl" if device == "cuda" else "gloo"
    if backend == "nccl" and not dist.is_nccl_available():
        pytest.fail("CUDA is present but this torch has no NCCL backend")
    if device == "cuda":
        torch.cuda.set_device(0)  # nccl's rank 0 on the first GPU
        torch.backends.cudnn.deterministic = True  # the two runs' convolutions alike
    p = small_project(ROOT / "templates" / "cnn.json")
    torch.manual_seed(0)
    plain = compile_graph(p.graph)
    wrapped = copy.deepcopy(plain)
    wrapped.modules.load_state_dict(plain.modules.state_dict())
    start = {k: v.clone() for k, v in plain.modules.state_dict().items()}
    feeds = list(plain.feeds)
    data = bind_data(plain, p.data.bind, load_dataset(p.data.dataset, p.data.options, 0), feeds)
    data = [data[f] for f in feeds]
    dev = torch.device(device)
    for c in (plain, wrapped):
        c.modules.to(dev)
        c.objective.to(dev)
        c.objective.train()

    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group(backend, store=store, rank=0, world_size=1)
    try:
        assert dist.get_backend() == backend and dist.get_world_size() == 1
        ddp = DDP(wrapped.objective, device_ids=[dev.index or 0] if device == "cuda" else None)
        got = _steps(ddp, ddp.parameters(), data, dev)
        if device == "cuda":
            torch.cuda.synchronize()
    finally:
        dist.destroy_process_group()
        torch.backends.cudnn.deterministic = False
    want = _steps(plain.objective, plain.objective.parameters(), data, dev)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    diff = 0.0
    for (name, a), b in zip(plain.modules.state_dict().items(),
                            wrapped.modules.state_dict().values()):
        assert a.device.type == device
        diff = max(diff, (a - b).abs().max().item())
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5, msg=lambda m: f"{name}: {m}")
    assert any(not torch.equal(a, b.to(dev)) for a, b in zip(
        plain.modules.state_dict().values(), start.values())), "the steps changed nothing"
    if device == "cuda":
        record_detail("ddp", backend=backend, steps=STEPS, max_weight_diff=diff,
                      losses=got.tolist())

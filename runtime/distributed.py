"""Several training processes (issue 27 item 3): one Trainer per process, started by torchrun
(app/cli_distributed.py relaunches `layerloom train` through torch.distributed.run), with
DistributedDataParallel: gloo on the CPU, nccl on GPUs (one process per GPU, LOCAL_RANK picks
it).

What the Trainer asks of this module is a no-op in an ordinary run (no process group): the
share of an epoch's order is the whole order, metrics are not reduced, the stop flag is the
process's own. In a distributed run:

- the batch size in the project is per process; a step takes `world × batch` positions of the
  epoch's seeded order (the same permutation in every process), and process r takes positions
  r, r + world, ... of the order padded to a multiple of the world size (as DistributedSampler
  does): `share`;
- epoch metrics are all-reduced as sums and counts (`reduce_means`), so each process reports
  the global figures;
- a stop (Ctrl-C in the launching CLI, which writes a stop file; or the process's own stop
  event) is agreed by all processes once per step (`agree_stop`, over a gloo group even with
  nccl, so there is no device sync), so every process stops after the same step.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist

from .errors import TrainingError
from .launch import DIR_ENV, STOP_FILE  # noqa: F401 (the launcher's folder, its stop file)

FAIL_ENV = "LAYERLOOM_TEST_FAIL_RANK"  # tests: this rank raises at its first step

_control = None  # the gloo group the stop flag travels over


def launched() -> bool:
    """Whether this process is one rank of a run that app/cli_distributed.py started."""
    return DIR_ENV in os.environ and "RANK" in os.environ and "WORLD_SIZE" in os.environ


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def backend() -> str:
    return str(dist.get_backend()) if active() else ""


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def init(device: torch.device) -> torch.device:
    """Join the process group torchrun's environment describes: nccl when `device` is a GPU
    (LOCAL_RANK picks which; the device returned names it), else gloo. Idempotent."""
    global _control
    if device.type == "cuda":
        if local_rank() >= torch.cuda.device_count():
            raise TrainingError(f"process {local_rank()} of this machine has no GPU of its own "
                                f"(it has {torch.cuda.device_count()}): ask for at most that "
                                "many processes (--nproc), one per GPU.")
        device = torch.device("cuda", local_rank())
        torch.cuda.set_device(device)
    if not active():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        _control = dist.new_group(backend="gloo") if device.type == "cuda" else None
    return device


def teardown(ok: bool = True) -> None:
    """Leave the process group (after a barrier when the run ended well, so rank 0's files
    are written before the others go)."""
    global _control
    if not active():
        return
    try:
        if ok:
            dist.barrier(group=_control)
    finally:
        dist.destroy_process_group()
        _control = None


def share(order: torch.Tensor, r: int | None = None, w: int | None = None) -> torch.Tensor:
    """Rank r's positions of an epoch's `order`: the order padded to a multiple of the world
    size with its own first positions (as DistributedSampler pads), then every w-th from r.
    One process: the order itself."""
    r = rank() if r is None else r
    w = world() if w is None else w
    if w == 1:
        return order
    pad = -len(order) % w
    if pad:
        order = torch.cat([order, order[:pad].repeat(pad // max(len(order), 1) + 1)[:pad]])
    return order[r::w]


def global_batch(per_process: int, optimizer_batch: dict, optimizer: str, n_train: int) -> int:
    """The positions of the epoch's order one step takes (all processes together): the
    project's batch per process × the world size; 'gd' takes the whole split, 'sgd' one sample
    per process (`optimizer_batch`: those optimizers' batch in one process)."""
    w = world()
    if optimizer in optimizer_batch:
        b = optimizer_batch[optimizer]
        return b if b == n_train else b * w
    return per_process * w


def reduce_means(metrics: dict[str, float], n: int) -> dict[str, float]:
    """Each metric as the mean over every process's samples: the sums (value × this process's
    `n` samples) and the counts all-reduced. One process: the metrics as they are."""
    if not active() or not metrics:
        return metrics
    keys = list(metrics)  # the same names, in the same order, in every process
    flat = torch.tensor([float(metrics[k]) * n for k in keys] + [float(n)], dtype=torch.float64)
    dist.all_reduce(flat, group=_control)
    total = max(flat[-1].item(), 1.0)
    return {k: flat[i].item() / total for i, k in enumerate(keys)}


def agree_stop(stop) -> None:
    """Before each step: whether any process was asked to stop (its stop event, or the
    launcher's stop file), agreed by all; sets `stop` in every process when one was."""
    if not active():
        return
    if os.environ.get(FAIL_ENV) == str(rank()):
        raise TrainingError(f"rank {rank()} failed on purpose ({FAIL_ENV})")
    folder = os.environ.get(DIR_ENV)
    mine = stop.is_set() or bool(folder and (Path(folder) / STOP_FILE).exists())
    flag = torch.tensor([1 if mine else 0], dtype=torch.int32)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=_control)
    if flag.item() and not stop.is_set():
        stop.set()


def refusal(recipe_name: str, optimizer_records: bool) -> str | None:
    """Why a project's recipe cannot train in several processes (None: it can). Said before
    anything starts (the app's worker) and by `wrap` in each process."""
    if recipe_name != "supervised":
        return (f"training.recipe '{recipe_name}' cannot run in several processes yet (only "
                "'supervised' can): train it with one process.")
    if optimizer_records:
        return ("training.optimizers: optimizer records cannot run in several processes yet: "
                "train with one process, or use the project's single optimizer.")
    return None


def unused_by_loss(objective: torch.nn.Module) -> bool:
    """Whether some trainable weight of the objective gets no gradient from its loss: a layer
    the objective runs whose output the loss does not read (an extra Output's branch). DDP
    must then be told (find_unused_parameters), or its reducer waits for those gradients
    and the next step fails. Read from the traced graph: the loss's ancestors."""
    graph = getattr(objective, "graph", None)
    out = next((n for n in graph.nodes if n.op == "output"), None) if graph else None
    loss = out.args[0].get("loss") if out is not None and isinstance(out.args[0], dict) else None
    if loss is None:
        return False
    seen, stack = set(), [loss]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(node.all_input_nodes)
    used = {str(n.target) for n in seen if n.op in ("call_module", "get_attr")}
    for name, p in objective.named_parameters():
        if p.requires_grad and not any(name == u or name.startswith(u + ".") for u in used):
            return True
    return False


def wrap(c, recipe_name: str, optimizer_records: bool, device: torch.device):
    """The compiled graph whose objective the recipe steps: in a distributed run, its
    objective wrapped in DistributedDataParallel (the gradients averaged over the processes;
    `find_unused_parameters` where some weight gets no gradient from the loss); the evaluator
    keeps the plain one. Recipes other than the supervised one are refused."""
    if not active():
        return c
    why = refusal(recipe_name, optimizer_records)
    if why:
        raise TrainingError(why)
    ids = [torch.cuda.current_device()] if device.type == "cuda" else None
    ddp = torch.nn.parallel.DistributedDataParallel(
        c.objective, device_ids=ids, find_unused_parameters=unused_by_loss(c.objective))
    return replace(c, objective=ddp)

"""The `script` export: a folder that trains the project's model without LayerLoom.

    model.py, model.safetensors   the standalone model file (runtime/codegen.py) and the
                                  weights training starts from (the given ones, else the
                                  project's initialisation, drawn with its seed as a run does)
    train.py                      the data, the objective (the graph's loss nodes, written
                                  from the traced objective like the model), the optimizer
                                  settings and DistributedDataParallel (gloo on the CPU, nccl on
                                  GPUs; torchrun or plain python)
    data.safetensors              the dataset's fields, for data generated in memory
    README.md, slurm.sbatch       how to run it: one machine, several, SLURM

File data (a CSV file, an image folder) is read from its files by train.py (the path given with
--data, by default the project's). What the script cannot train is refused before anything is
written (script_refusal), naming it: recipes other than supervised, optimizer records, noise
inputs, a training-only layer outside the model, and dataset kinds read from other files.
The folder is filled under a temporary name and swapped in (graph.fileio.atomic_folder).
"""
from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import torch

from graph.fileio import atomic_folder
from graph.project import Project
from graph.settings import auto_bind

from . import codegen
from . import epoch_metrics as EM
from .compile import CompileError, Compiled, compile_graph
from .evaluation import ignored
from .export_paths import ExportError
from .weights import save_weights

TEMPLATE = Path(__file__).resolve().parent / "script_template"
# File datasets train.py reads itself (the rest of the kinds that read files are refused);
# the kinds that need a library beyond torch and safetensors name it
FILE_KINDS = {"csv": "", "images": "Pillow"}


def script_refusal(project: Project, c: Compiled) -> str | None:
    """Why the training script cannot be written for this project, or None."""
    from .data import DATASETS
    s = project.training
    if s.recipe != "supervised":
        return (f"the training recipe '{s.recipe}' is not written into the script (it trains "
                "with backpropagation of the losses, the 'supervised' recipe); train it in "
                "LayerLoom, or export the python file and write its loop by hand")
    if c.objective is None:
        return "the graph has no loss node: there is nothing to train"
    if s.optimizers and _one_record(project, c) is None:
        return ("optimizer records over parts of the graph (several optimizers, a "
                "sub-network, a start, an end or 'every') are not written into the script: "
                "one record over every weight and loss is, or the settings' optimizer")
    if c.noise_inputs:
        return (f"noise input '{c.noise_inputs[0]}' is drawn each step, which the script does "
                "not do; train it in LayerLoom")
    if c.taps:
        return f"'{c.taps[0]}' learns by a learning rule, not by gradients"
    if project.data.augment.random:
        return ("the data's augmentation (random crops, flips, rotation, colour jitter) is "
                "not written into the script: turn it off to export, or train in LayerLoom")
    spec = DATASETS.get(project.data.dataset)
    if spec is None:
        return f"the dataset '{project.data.dataset}' is unknown"
    if spec.takes_path and project.data.dataset not in FILE_KINDS:
        return (f"the dataset kind '{project.data.dataset}' ({spec.title}) is read from files "
                "that the script does not read yet (it reads "
                f"{' and '.join(repr(k) for k in FILE_KINDS)} data, and data generated in memory)")
    model_modules = set(c.model._modules)
    for node in c.objective.graph.nodes:
        if node.op == "call_module" and node.target.split(".")[0] not in model_modules:
            return (f"'{node.target.split('.')[0]}' runs in training only, outside the model "
                    "that exports; the script trains the exported model alone")
    return None


def _one_record(project: Project, c: Compiled):
    """The project's one optimizer record when it updates every weight on every loss at
    every step (the script's optimizer and cosine schedule); else None."""
    recs = project.training.optimizers
    if len(recs) != 1:
        return None
    r = recs[0]
    if r.subnet or set(r.losses) != set(c.losses) or r.every != 1 or r.start or r.end:
        return None
    return r


def _script(project: Project, c: Compiled, out: Path, about, *,
            weights_given: bool = False, project_path=None) -> list[Path]:
    """Write the folder `out` (see the module's docstring)."""
    if not weights_given:  # the initial weights a run of the project starts from
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(project.training.seed)
            try:
                c = compile_graph(project.graph, standardize=project.data.standardize,
                                  normalize=project.data.augment.normalize)
            except CompileError as e:
                raise ExportError(f"the graph has problems: {e}") from None
    refusal = script_refusal(project, c)
    if refusal is not None:
        raise ExportError(f"Training script: {refusal}")
    data, tensors = _data(project, c, project_path)
    generated = _generated(project, c, data)
    needs = FILE_KINDS.get(project.data.dataset) if data["kind"] != "tensors" else ""
    text = (TEMPLATE / "train.py.txt").read_text(encoding="utf-8")
    train = (text.replace("@GENERATED@", generated)
             .replace("@PROJECT@", codegen._in_docstring(repr(project.name)))
             .replace("@DATE@", date.today().isoformat())
             .replace("@NEEDS@", f" (and {needs})" if needs else ""))
    compile(train, "train.py", "exec")  # a bug here, not a broken file in the user's hands
    model_py = codegen.standalone_file(c, project.name, "model.safetensors", module="model",
                                       vocab=about.vocab, classes=about.classes,
                                       input_notes=about.inputs)
    words = {"@PROJECT@": project.name, "@DATE@": date.today().isoformat(),
             "@NEEDS@": f", {needs}" if needs else "",
             "@DATA@": _data_words(project, data), "@EPOCHS@": str(project.training.epochs)}
    files = {"train.py": train, "model.py": model_py}
    for name in ("README.md", "slurm.sbatch"):
        t = (TEMPLATE / f"{name}.txt").read_text(encoding="utf-8")
        for k, v in words.items():
            t = t.replace(k, v)
        files[name] = t
    with atomic_folder(out) as tmp:
        for name, t in files.items():
            (tmp / name).write_text(t, encoding="utf-8")
        save_weights(c.model, tmp / "model.safetensors", {"project": project.name})
        if tensors is not None:
            from safetensors.torch import save_file
            save_file(tensors, str(tmp / "data.safetensors"),
                      {"dataset": project.data.dataset, "bind": json.dumps(data["bind"])})
    names = [*files, "model.safetensors"] + (["data.safetensors"] if tensors is not None else [])
    return [out / n for n in names]


def _needed(c: Compiled) -> list[str]:
    return [p for p in c.feeds if p not in c.noise_inputs]


def _dtype(c: Compiled, node: str) -> str:
    t = c.analysis.out_type(node, c.graph.spec(node).value_port)
    return "long" if t.dtype == "int64" else "float"


def _data(project: Project, c: Compiled, project_path) -> tuple[dict, dict | None]:
    """What DATA says in train.py, and the tensors of data.safetensors (None for file data).
    The binding is checked here as a run checks it (runtime/binding.py), so a mismatch is
    said now, not by the script."""
    from .binding import bind_data
    from .data import DataError, load_dataset
    d = project.data
    base_dir = Path(project_path).resolve().parent if project_path else None
    try:
        dataset = load_dataset(d.dataset, d.options, project.training.seed, base_dir)
        bound = bind_data(c, d.bind, dataset, _needed(c))
    except DataError as e:
        raise ExportError(f"Training script: the data cannot be read: {e}") from None
    needed = _needed(c)
    bind = dict(d.bind) or auto_bind([n for n in needed if c.graph.spec(n).role == "input"],
                                     [n for n in needed if c.graph.spec(n).role == "target"],
                                     list(dataset.fields), {})
    fields = {n: bind[n] for n in needed}  # the field each node reads (bind_data checked it)
    out = {"kind": d.dataset if d.dataset in FILE_KINDS else "tensors", "bind": fields}
    if out["kind"] != "tensors":
        path = str(d.options.get("path", ""))
        if base_dir is not None and path and not os.path.isabs(path):
            path = str((base_dir / path).resolve())
        out.update(path=path, options=dict(d.options))
        return out, None
    tensors = {}
    for node, t in bound.items():
        key = fields[node] if fields[node] not in tensors else node
        fields[node] = key
        tensors[key] = t.contiguous()
    out["file"] = "data.safetensors"
    return out, tensors


def _data_words(project: Project, data: dict) -> str:
    if data["kind"] == "tensors":
        return (f"`data.safetensors`: the '{project.data.dataset}' dataset as the project "
                f"generated it (seed {project.training.seed}), its fields "
                + ", ".join(f"`{f}` (read by `{n}`)" for n, f in data["bind"].items()))
    what = {"csv": "the CSV file", "images": "the image folder (one subfolder per class)"}
    return (f"{what[data['kind']]} `{data['path']}`, read by train.py itself (give another "
            "path with `--data PATH`)")


def _generated(project: Project, c: Compiled, data: dict) -> str:
    """The project's part of train.py: its settings, the data's binding, the metrics, the
    loss helpers and the Trainable class (the model's class, its forward the objective)."""
    s = project.training
    settings = {k: getattr(s, k) for k in ("optimizer", "lr", "momentum", "batch_size",
                                           "epochs", "weight_decay", "clip_norm", "seed",
                                           "val_split")}
    settings.update(lr_end=None, beta1=0.9)
    r = _one_record(project, c)
    if r is not None:  # the record's optimizer and schedule (a cosine decay to lr_end)
        settings.update(optimizer=r.optimizer, lr=r.lr, lr_end=r.lr_end, beta1=r.beta1,
                        momentum=r.momentum, weight_decay=r.weight_decay)
    needed = _needed(c)
    bind = {n: data["bind"][n] for n in needed}
    metrics = {l: (kind, EM.target_of(c, l), ignored(c, l))
               for l, kind in EM.metric_kinds(c).items() if EM.target_of(c, l) in needed}
    used = {m for node in c.objective.graph.nodes if node.op == "call_module"
            for m in [node.target.split(".")[0]]}
    find_unused = bool(set(c.model._modules) - used)
    calls = {obj.__name__: obj for obj in codegen._calls(c.objective)[1].values()}
    helpers = codegen._with_helpers(calls)
    helper_text = "\n\n\n".join(codegen._source(n, obj) for n, obj in helpers.items())
    cls = codegen.model_class_name(c, project.name)
    body = codegen._body(c.objective)
    lines = [f"PROJECT = {project.name!r}",
             f"SETTINGS = {settings!r}",
             f"DATA = {_literal(data)}",
             "# node of the objective -> the dataset field it reads (in the objective's order)",
             f"BIND = {bind!r}",
             f"DTYPES = {({n: _dtype(c, n) for n in needed})!r}",
             "# Input node -> its Standardize module, fitted on the training split",
             f"STANDARDIZERS = {dict(c.standardizers)!r}",
             "# loss node -> (its metric, the Target it compares with, a class index left out)",
             f"METRICS = {metrics!r}",
             f"FIND_UNUSED = {find_unused!r}  # layers of the model the objective does not run",
             "", "", helper_text, "", "",
             f"class Trainable(exported.{cls}):",
             '    """The model; its forward is the objective: the data in BIND\'s order -> '
             '{"loss": the',
             '    weighted sum of the losses, "losses": each, "preds": what each loss '
             'judged}."""', "", *body, ""]
    return "\n".join(lines)


def _literal(value) -> str:
    """A Python literal of JSON-like data (json writes true/null, Python True/None)."""
    return repr(json.loads(json.dumps(value)))

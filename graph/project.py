"""Project files: versioned JSON, saved atomically, loaded in two phases.

Load: read the text, parse JSON, check the format and schema version, migrate old schemas,
validate the plain records (pydantic, so errors come with their place), then build the Graph.
Every failure is one ProjectError naming the file and what is wrong. No pickle anywhere:
trained weights live in a safetensors file beside the project.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .fileio import atomic_write_text, clean_stale
from .model import Edge, Graph, GraphError, NodeRenamed, id_problem
from .search import SearchEntry, check_search
from .settings import DataSettings, TrainingSettings

FORMAT = "layerloom.project"
SCHEMA = 2
MAX_BYTES = 64 * 1024 * 1024


def _to_2(raw: dict) -> dict:
    """Schema 2 adds block definitions ("blocks", graph/blocks.py); a schema-1 file has none."""
    raw.setdefault("blocks", [])
    return raw


# schema n -> n + 1, applied to the raw dict before validation.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _to_2}


class ProjectError(Exception):
    """A project file that cannot be read; str() is the one message to show."""

    def __init__(self, source: str, message: str, where: str = ""):
        self.source, self.where, self.message = source, where, message
        text = f"{source}: {where}: {message}" if where else f"{source}: {message}"
        super().__init__(text)


# Plain records (phase 1) ---------------------------------------------------------------------

class _Rec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeRec(_Rec):
    id: str
    type: str
    version: int = Field(1, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)
    pos: tuple[float, float] = (0.0, 0.0)
    note: str = Field("", max_length=10_000)


class EdgeRec(_Rec):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    src: str = Field(alias="from", pattern=r"^[^.]+\.[^.]+$")
    dst: str = Field(alias="to", pattern=r"^[^.]+\.[^.]+$")


class ExposedRec(_Rec):
    name: str
    targets: list[str] = Field(min_length=1)
    default: Any = None
    help: str = ""


class BlockRec(_Rec):
    name: str
    title: str = ""
    doc: str = ""
    exposed: list[ExposedRec] = Field(default_factory=list)
    loop: list[tuple[str, str]] = Field(default_factory=list)
    nodes: list[NodeRec] = Field(default_factory=list)
    edges: list[EdgeRec] = Field(default_factory=list)


class ProjectRec(_Rec):
    format: str
    schema_: int = Field(alias="schema")
    name: str = "Untitled"
    description: str = ""
    blocks: list[BlockRec] = Field(default_factory=list)
    nodes: list[NodeRec] = Field(default_factory=list)
    edges: list[EdgeRec] = Field(default_factory=list)
    subnets: dict[str, list[str]] = Field(default_factory=dict)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    data: DataSettings = Field(default_factory=DataSettings)
    search: list[SearchEntry] = Field(default_factory=list)  # graph/search.py


# The project --------------------------------------------------------------------------------

@dataclass
class Project:
    graph: Graph = field(default_factory=Graph)
    name: str = "Untitled"
    description: str = ""
    training: TrainingSettings = field(default_factory=TrainingSettings)
    data: DataSettings = field(default_factory=DataSettings)
    search: list[SearchEntry] = field(default_factory=list)  # a sweep's space (graph/search.py)

    def __post_init__(self):
        self.graph.subscribe(self._on_graph_event)

    def _on_graph_event(self, ev) -> None:
        # A sweep's search entries follow a renamed node (an entry of a removed node stays
        # here, for an undo to bring back, but is not written: see _search_written).
        if isinstance(ev, NodeRenamed) and any(e.target.split(".", 1)[0] == ev.old
                                               for e in self.search):
            self.search = [e.model_copy(update={"target": f"{ev.new}.{e.target.split('.', 1)[1]}"})
                           if e.target.split(".", 1)[0] == ev.old else e for e in self.search]
        # Keep the data binding pointing at a renamed node.
        if isinstance(ev, NodeRenamed) and ev.old in self.data.bind:
            bind = dict(self.data.bind)
            bind[ev.new] = bind.pop(ev.old)
            self.data.bind = bind
        if isinstance(ev, NodeRenamed) and any(ev.old in r.losses
                                               for r in self.training.optimizers):
            # optimizer records name their loss nodes (new records: the undo history keeps
            # the old ones as they were)
            self.training.optimizers = [
                r.model_copy(update={"losses": [ev.new if l == ev.old else l
                                                for l in r.losses]})
                for r in self.training.optimizers]

    def _search_written(self) -> list[SearchEntry]:
        """The search entries whose node is in the graph (or that name a training setting):
        a removed node's entries would make the file refuse to load."""
        return [e for e in self.search if e.target.split(".", 1)[0] == "training"
                or e.target.split(".", 1)[0] in self.graph]

    def to_dict(self) -> dict:
        g = self.graph
        nodes, edges = graph_records(g)
        blocks = [g.blocks[b].to_dict() for b in g.blocks]
        return {
            "format": FORMAT, "schema": SCHEMA, "name": self.name,
            "description": self.description, **({"blocks": blocks} if blocks else {}),
            "nodes": nodes, "edges": edges,
            "subnets": dict(sorted(g.subnets.items())),
            "training": self.training.model_dump(mode="json"),
            "data": {"dataset": self.data.dataset, "options": dict(sorted(self.data.options.items())),
                     "bind": dict(sorted(self.data.bind.items())),
                     **({"standardize": True} if self.data.standardize else {}),
                     **({"augment": self.data.augment.model_dump(mode="json")}
                        if self.data.augment != type(self.data.augment)() else {}),
                     **({"workers": self.data.workers} if self.data.workers != "auto" else {}),
                     **({"cache": True} if self.data.cache else {})},
            **({"search": [e.to_dict() for e in self._search_written()]}
               if self._search_written() else {}),
        }

    def to_json(self) -> str:
        return dumps(self.to_dict())

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically: a failure leaves any previous file as it was."""
        atomic_write_text(path, self.to_json())


def graph_records(g: Graph) -> tuple[list[dict], list[dict]]:
    """A graph's nodes and edges as the file writes them."""
    nodes = []
    for n in g.nodes():
        spec = g.spec(n)
        params = spec.resolved(g.params(n))
        nodes.append({"id": n, "type": spec.type, "version": spec.version,
                      "params": {p.name: params[p.name] for p in spec.params},
                      "pos": [_num(v) for v in g.pos(n)],
                      **({"note": g.note(n)} if g.note(n) else {})})
    edges = [{"from": f"{e.src}.{e.src_port}", "to": f"{e.dst}.{e.dst_port}"}
             for e in g.edges()]
    return nodes, edges


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else v


def dumps(d: dict) -> str:
    """JSON with one node or edge per line: readable, and diffs well."""
    lines = ["{"]
    items = list(d.items())
    for i, (k, v) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        key = json.dumps(k)
        if k in ("nodes", "edges", "search") and v:
            lines.append(f"  {key}: [")
            lines += [f"    {_compact(x)}{',' if j < len(v) - 1 else ''}" for j, x in enumerate(v)]
            lines.append(f"  ]{comma}")
        elif k == "blocks" and v:
            lines.append(f"  {key}: [")
            for j, b in enumerate(v):
                lines.append("    {")
                parts = list(b.items())
                for i2, (bk, bv) in enumerate(parts):
                    c2 = "," if i2 < len(parts) - 1 else ""
                    if bk in ("nodes", "edges", "exposed") and bv:
                        lines.append(f"      {json.dumps(bk)}: [")
                        lines += [f"        {_compact(x)}{',' if m < len(bv) - 1 else ''}"
                                  for m, x in enumerate(bv)]
                        lines.append(f"      ]{c2}")
                    else:
                        lines.append(f"      {json.dumps(bk)}: {_compact(bv)}{c2}")
                lines.append(f"    }}{',' if j < len(v) - 1 else ''}")
            lines.append(f"  ]{comma}")
        elif isinstance(v, dict) and v:
            body = json.dumps(v, indent=2, ensure_ascii=False).replace("\n", "\n  ")
            lines.append(f"  {key}: {body}{comma}")
        else:
            lines.append(f"  {key}: {_compact(v)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _compact(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))


# Loading ------------------------------------------------------------------------------------

def load(path: str | os.PathLike) -> Project:
    """Read a project file; raises ProjectError with one clear message."""
    path = Path(path)
    src = str(path)
    clean_stale(path)  # the temps of saves that were killed (a save cleans them too)
    try:
        if path.is_dir():
            raise ProjectError(src, "is a folder, not a project file")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ProjectError(src, f"is {size // 2**20} MiB, too large for a project file "
                                    "(weights belong in a .safetensors file)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ProjectError(src, "no such file") from None
    except PermissionError:
        raise ProjectError(src, "cannot be read: permission denied") from None
    except OSError as e:
        raise ProjectError(src, f"cannot be read: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProjectError(src, "is not a text file (a project file is JSON)") from None
    return loads(text, src)


def loads(text: str, source: str = "<project>") -> Project:
    if not text.strip():
        raise ProjectError(source, "the file is empty")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        end = e.pos >= len(text.rstrip())
        hint = "; the file looks cut short" if end else ""
        raise ProjectError(source, f"not valid JSON: {e.msg}{hint}",
                           f"line {e.lineno}, column {e.colno}") from None
    except RecursionError:
        raise ProjectError(source, "not a valid project: nested too deeply") from None
    except ValueError as e:  # e.g. an integer of over 4,300 digits (Python's own limit)
        raise ProjectError(source, f"not a valid project: {str(e).splitlines()[0]}") from None
    return from_dict(raw, source)


def from_dict(raw: Any, source: str = "<project>") -> Project:
    # Phase 1: plain records.
    if not isinstance(raw, dict):
        raise ProjectError(source, f"not a LayerLoom project: expected a JSON object, found "
                                   f"{_json_kind(raw)}")
    if raw.get("format") != FORMAT:
        raise ProjectError(source, f"not a LayerLoom project (its \"format\" should be "
                                   f"\"{FORMAT}\")")
    version = raw.get("schema")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ProjectError(source, "a whole number >= 1 is needed", "schema")
    if version > SCHEMA:
        raise ProjectError(source, f"was saved by a newer LayerLoom (file schema {version}; "
                                   f"this version reads up to {SCHEMA}). Update LayerLoom to "
                                   "open it.")
    while version < SCHEMA:
        raw = MIGRATIONS[version](dict(raw))
        version += 1
        raw["schema"] = version
    try:
        rec = ProjectRec.model_validate(raw)
    except ValidationError as e:
        raise ProjectError(source, *_first_error(e, raw)) from None

    # Phase 2: build the graph through its mutators.
    project = Project(name=rec.name, description=rec.description,
                      training=rec.training, data=rec.data, search=list(rec.search))
    g = project.graph
    _build_blocks(g, rec.blocks, source)
    _build_graph(g, rec.nodes, rec.edges, source, "")
    for name, members in rec.subnets.items():
        try:
            g.set_subnet(name, members)
        except GraphError as err:
            raise ProjectError(source, str(err), f"subnets.{name}") from None
    bad = check_search(g, rec.training, rec.search)
    if bad:
        raise ProjectError(source, bad[1], bad[0])
    # A binding may name a node that is gone (deleted after binding): it is kept, unused, so
    # that undoing the deletion, or re-adding the node, binds it again. Training reports any
    # Input or Target left unbound.
    return project


def _build_blocks(g: Graph, recs: list[BlockRec], source: str) -> None:
    """The definitions, each filled after the ones it holds (a block holding itself,
    directly or not, is refused)."""
    from .blocks import Exposed, block_name
    index = {}
    for i, b in enumerate(recs):
        where = f"blocks[{i}] ('{b.name}')"
        if b.name in index:
            raise ProjectError(source, f"two blocks are named '{b.name}'", where)
        try:
            g.add_block(b.name, b.title, b.doc)
        except GraphError as err:
            raise ProjectError(source, str(err), f"{where}.name") from None
        index[b.name] = i
    uses = {b.name: [block_name(n.type) for n in b.nodes if block_name(n.type)] for b in recs}
    done: list[str] = []

    def visit(name, path):
        if name in done:
            return
        if name in path:
            chain = " > ".join(path[path.index(name):] + [name])
            raise ProjectError(source, f"the block '{name}' holds itself ({chain}): a block "
                                       "cannot contain itself", f"blocks[{index[name]}]")
        for u in uses[name]:
            if u in uses:
                visit(u, path + [name])
        done.append(name)
        b = recs[index[name]]
        where = f"blocks[{index[name]}] ('{name}')"
        d = g.blocks[name]
        _build_graph(d.graph, b.nodes, b.edges, source, f"{where}.")
        exposed = tuple(Exposed(x.name, tuple(x.targets), x.default, x.help)
                        for x in b.exposed)
        # an exposed parameter whose target is gone is kept: the instances say so, and the
        # file still opens (nothing is lost)
        g.set_block_info(name, exposed=exposed, loop=[tuple(p) for p in b.loop], check=False)
        if d.loop_problem():
            raise ProjectError(source, d.loop_problem(), f"{where}.loop")

    for b in recs:
        visit(b.name, [])


def _build_graph(g: Graph, nodes: list[NodeRec], edges: list[EdgeRec], source: str,
                 prefix: str) -> None:
    """Nodes and wires into `g` through its mutators; `prefix` places a message ("blocks[0]
    ('basic').")."""
    for i, n in enumerate(nodes):
        where = f"{prefix}nodes[{i}] ('{n.id}')"
        tid = g.resolve_type(n.type)
        if tid is None:
            what = "block" if n.type.startswith("block:") else "node type"
            raise ProjectError(source, f"unknown {what} '{n.type}'", f"{where}.type")
        spec = g.type_spec(tid)
        if n.version > spec.version:
            raise ProjectError(source, f"{spec.title} version {n.version} comes from a newer "
                                       f"LayerLoom (this one knows up to {spec.version})",
                               f"{where}.version")
        params = dict(n.params)
        if n.version < spec.version and spec.migrate:
            params = spec.migrate(params, n.version)
        why = id_problem(n.id)
        if why:
            raise ProjectError(source, why, f"{prefix}nodes[{i}].id")
        try:
            g.add_node(tid, n.id, params, n.pos, check_params=False)
        except GraphError as err:
            raise ProjectError(source, str(err), where) from None
        if n.note:
            g.set_note(n.id, n.note)
    for i, e in enumerate(edges):
        (s, sp), (d, dp) = e.src.split("."), e.dst.split(".")
        where = f"{prefix}edges[{i}] ({e.src} → {e.dst})"
        for node, port, side in ((s, sp, "from"), (d, dp, "to")):
            if node not in g:
                raise ProjectError(source, f"there is no node '{node}'", f"{where}.{side}")
        if g.spec(s).output(sp) is None:
            raise ProjectError(source, f"{g.spec(s).title} '{s}' has no output port '{sp}' (it "
                                       f"has: {_names(g.spec(s).outputs)})", f"{where}.from")
        if g.spec(d).input(dp) is None:
            raise ProjectError(source, f"{g.spec(d).title} '{d}' has no input port '{dp}' (it "
                                       f"has: {_names(g.spec(d).inputs)})", f"{where}.to")
        if g.has_edge(Edge(s, sp, d, dp)):
            raise ProjectError(source, "the same wire appears twice", where)
        g.connect(s, sp, d, dp, check=False)


def _names(ports) -> str:
    return ", ".join(p.name for p in ports) or "none"


def _json_kind(v: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "true/false", type(None): "null"}.get(type(v), type(v).__name__)


def _first_error(e: ValidationError, raw: dict) -> tuple[str, str]:
    errs = e.errors()
    err = errs[0]
    loc = list(err["loc"])
    parts = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            parts.append(f"[{part}]")
            if i == 1 and loc[0] == "nodes":
                try:
                    nid = raw["nodes"][part].get("id")
                    if isinstance(nid, str):
                        parts.append(f" ('{nid}')")
                except (AttributeError, IndexError, KeyError, TypeError):
                    pass
        else:
            parts.append(("." if parts else "") + str(part))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown field (a typo?)"
    elif err["type"] == "missing":
        msg = "this field is required"
    elif err["type"] == "string_pattern_mismatch":
        msg = "must look like node.port, e.g. \"conv1.y\""
    more = len(errs) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return msg, "".join(parts)

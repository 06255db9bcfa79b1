"""The block library (issue 25, item 5): block definitions kept outside any project, ready to
be copied into one.

An **entry** is one JSON file holding one block definition in the record format of a project
file's "blocks" list (graph/project.py's BlockRec, as `BlockDef.to_dict()` writes it), plus
the definitions it depends on (the blocks it holds, to any depth) in its own "blocks" list:

    {"format": "layerloom.block", "schema": 2, "name": "basic", "title": "...", "doc": "...",
     "exposed": [...], "nodes": [...], "edges": [...], "blocks": [<dependency records>]}

Shipped entries live in `graph/library_blocks/` (package data); the user's own in
`<LayerLoom home>/blocks/` (`home()`: $LAYERLOOM_HOME, else the platform's application data
folder, the one Qt's AppDataLocation names for the app). A file that cannot be used is listed
with the reason (`Entry.problem`), never raised.

`insert` copies an entry's definitions into a project's registry (the project file stays
self-contained), reusing an identical definition already there and renaming on a clash;
`remove_added` and `restore` undo and redo that. `save` writes a project's block, with its
dependencies, into the user's library.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .fileio import atomic_write_text

FORMAT = "layerloom.block"
SHIPPED = Path(__file__).resolve().parent / "library_blocks"
MAX_BYTES = 4 * 1024 * 1024
SHIPPED_SOURCE, USER_SOURCE = "shipped", "user"


class LibraryError(Exception):
    """A library operation that cannot be done; str() is the message to show."""


def home() -> Path:
    """LayerLoom's home folder: $LAYERLOOM_HOME, else the platform's application data folder
    (what Qt's QStandardPaths.AppDataLocation gives for organisation and application
    "LayerLoom"), so the window and the CLI agree without Qt."""
    base = os.environ.get("LAYERLOOM_HOME")
    if base:
        return Path(base)
    if sys.platform == "win32":
        root = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Application Support"
    else:
        root = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return root / "LayerLoom" / "LayerLoom"


def user_folder(base: str | os.PathLike | None = None) -> Path:
    """Where the user's own blocks are: `<home>/blocks`."""
    return (Path(base) if base is not None else home()) / "blocks"


@dataclass(frozen=True)
class Entry:
    """One library file. `records` are its definitions, each as `BlockDef.to_dict()` gives
    it, the ones it depends on first and the entry's own block last; empty when `problem`
    says why the file cannot be used."""
    name: str
    title: str
    doc: str
    source: str  # SHIPPED_SOURCE or USER_SOURCE
    path: Path
    problem: str = ""
    records: tuple = field(default=(), repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def key(self) -> str:
        """How the palette names it: "shipped/conv_bn_relu.json"."""
        return f"{self.source}/{self.path.name}"


# Reading ------------------------------------------------------------------------------------

def _dependency_order(graph, name: str) -> list[str]:
    """`name` and every definition it holds, to any depth, each after those it holds."""
    from .blocks import block_name
    out: list[str] = []

    def visit(n, path):
        if n in out or n in path or n not in graph.blocks:
            return
        d = graph.blocks[n]
        for node in d.graph.nodes():
            b = block_name(d.graph.node_type(node))
            if b is not None:
                visit(b, path + [n])
        out.append(n)

    visit(name, [])
    return out


def parse(raw, source: str = "<library>") -> tuple[dict, ...]:
    """The canonical records of an entry's JSON value (dependencies first, the entry's block
    last); LibraryError says why it cannot be used."""
    from pydantic import ValidationError

    from .model import Graph
    from .project import SCHEMA, BlockRec, ProjectError, _build_blocks, _first_error
    if not isinstance(raw, dict):
        raise LibraryError("is not a block file (its top level is not an object)")
    raw = dict(raw)
    if raw.pop("format", None) != FORMAT:
        raise LibraryError(f"is not a block file (its \"format\" is not \"{FORMAT}\")")
    schema = raw.pop("schema", None)
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise LibraryError("its \"schema\" must be a whole number >= 1")
    if schema > SCHEMA:
        raise LibraryError(f"was saved by a newer LayerLoom (schema {schema}; this version "
                           f"reads up to {SCHEMA})")
    deps = raw.pop("blocks", [])
    if not isinstance(deps, list):
        raise LibraryError("its \"blocks\" (the blocks it holds) must be a list")
    recs = []
    for i, r in enumerate([raw, *deps]):
        try:
            recs.append(BlockRec.model_validate(r))
        except ValidationError as e:
            msg, where = _first_error(e, r if isinstance(r, dict) else {})
            place = "" if i == 0 else f"blocks[{i - 1}]."
            raise LibraryError(f"{place}{where}: {msg}") from None
    scratch = Graph()
    try:
        _build_blocks(scratch, recs, source)
    except ProjectError as e:
        raise LibraryError(f"{_place(e.where)}: {e.message}" if e.where else e.message) \
            from None
    main = recs[0].name
    problems = scratch.blocks[main].problems()
    if problems:
        raise LibraryError(f"the block '{main}' {problems[0]}")
    return tuple(scratch.blocks[n].to_dict() for n in _dependency_order(scratch, main))


def _place(where: str) -> str:
    """A project file's place ("blocks[0] ('a').nodes[1]") in a library file's terms: its
    own block is the top level, its dependencies "blocks[0]" on."""
    import re
    m = re.match(r"blocks\[(\d+)\]( \('[^']*'\))?\.?(.*)", where)
    if not m:
        return where
    i = int(m.group(1))
    head = f"blocks[{i - 1}]{m.group(2) or ''}" if i else ""
    return ".".join(x for x in (head, m.group(3)) if x) or where


def read_entry(path: str | os.PathLike, source: str = USER_SOURCE) -> Entry:
    """One library file as an Entry; a file that cannot be used gives an Entry whose
    `problem` says why (never an exception)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise LibraryError(f"is larger than {MAX_BYTES // (1024 * 1024)} MB")
        text = path.read_text(encoding="utf-8")
        try:
            raw = json.loads(text)
        except ValueError as e:
            raise LibraryError(f"is not valid JSON (line {getattr(e, 'lineno', '?')}: "
                               f"{getattr(e, 'msg', e)})") from None
        records = parse(raw, str(path))
    except LibraryError as e:
        return Entry(path.stem, path.name, "", source, path, str(e))
    except (OSError, UnicodeDecodeError) as e:
        return Entry(path.stem, path.name, "", source, path, f"cannot be read ({e})")
    except Exception as e:  # noqa: BLE001 (a library file never stops the app)
        return Entry(path.stem, path.name, "", source, path,
                     f"cannot be used ({type(e).__name__}: {e})")
    main = records[-1]
    return Entry(main["name"], main.get("title") or main["name"], main.get("doc", ""),
                 source, path, "", records)


def _folder_entries(folder: Path, source: str) -> list[Entry]:
    try:
        files = sorted(p for p in folder.glob("*.json") if p.is_file())
    except OSError:
        return []
    return [read_entry(p, source) for p in files]


def shipped() -> list[Entry]:
    return _folder_entries(SHIPPED, SHIPPED_SOURCE)


def user_entries(base: str | os.PathLike | None = None) -> list[Entry]:
    return _folder_entries(user_folder(base), USER_SOURCE)


def entries(base: str | os.PathLike | None = None) -> list[Entry]:
    """Every entry: the shipped ones, then the user's (in `<base or home()>/blocks`), each
    sorted by file name. Unusable files are included, with their `problem`."""
    return shipped() + user_entries(base)


def find(key: str, base: str | os.PathLike | None = None) -> Entry:
    """The entry an `Entry.key` names (read again from its file)."""
    source, _, name = key.partition("/")
    if source not in (SHIPPED_SOURCE, USER_SOURCE) or not name or "/" in name or \
            "\\" in name or name in (".", ".."):
        raise LibraryError(f"there is no library entry '{key}'")
    folder = SHIPPED if source == SHIPPED_SOURCE else user_folder(base)
    if not (folder / name).is_file():
        raise LibraryError(f"the library entry '{key}' is gone (its file was moved or deleted)")
    return read_entry(folder / name, source)


# Into a project ------------------------------------------------------------------------------

def _retyped(rec: dict, names: dict[str, str]) -> dict:
    """A record whose instances of renamed blocks name their new names."""
    from .blocks import block_name, type_of
    nodes = []
    for n in rec.get("nodes", []):
        b = block_name(n["type"])
        nodes.append({**n, "type": type_of(names.get(b, b))} if b is not None else n)
    return {**rec, "nodes": nodes}


def insert(graph, entry: Entry | dict, added: list[str] | None = None) -> str:
    """Copy an entry's block and the blocks it holds into `graph`'s project registry; returns
    the name to instantiate ("block:<name>"). A definition already there under the same name
    and identical is reused; a different one keeps its name and the copy takes the next free
    one ("basic_2"). The names added are appended to `added` (in order), for
    `remove_added`."""
    from pydantic import ValidationError

    from .project import BlockRec, ProjectError, _build_blocks
    records = entry.records if isinstance(entry, Entry) else parse(entry)
    if isinstance(entry, Entry) and not entry.ok:
        raise LibraryError(f"'{entry.path.name}' cannot be used: {entry.problem}")
    if not records:
        raise LibraryError("the entry holds no block")
    reg = graph.blocks
    names: dict[str, str] = {}
    new: list[str] = []
    try:
        for rec in records:
            rec = _retyped(rec, names)
            base, k = rec["name"], 1
            while True:
                cand = base if k == 1 else f"{base}_{k}"
                mine = {**rec, "name": cand}
                if cand not in reg:
                    try:
                        _build_blocks(graph, [BlockRec.model_validate(mine)], "library")
                    finally:
                        if cand in reg:
                            new.append(cand)
                    break
                if reg[cand].to_dict() == mine:  # identical: reuse it
                    break
                k += 1
            names[base] = cand
    except (ProjectError, ValidationError) as e:
        remove_added(graph, new)
        raise LibraryError(f"could not be copied into the project: {e}") from None
    if added is not None:
        added.extend(new)
    return names[records[-1]["name"]]


def remove_added(graph, added: list[str]) -> list:
    """Remove the definitions `insert` added (the last first); returns what `restore` needs."""
    return [graph.remove_block(n) for n in reversed(added)]


def restore(graph, removed: list) -> None:
    """Put back what `remove_added` removed, each at its place."""
    for d, index in reversed(removed):
        graph.restore_block(d, index)


# Out of a project ------------------------------------------------------------------------------

def save(graph, name: str, base: str | os.PathLike | None = None,
         replace: bool = False) -> Path:
    """Write the project's block `name`, with the blocks it holds, to the user's library as
    `<name>.json` (atomically). A file of that name there is refused unless `replace`."""
    from .project import dumps
    if name not in graph.blocks:
        raise LibraryError(f"the project has no block '{name}'")
    problems = graph.blocks[name].problems()
    if problems:
        raise LibraryError(f"the block '{name}' {problems[0]}: fix it before saving it")
    order = _dependency_order(graph, name)
    main = graph.blocks[name].to_dict()
    deps = [graph.blocks[n].to_dict() for n in order[:-1]]
    folder = user_folder(base)
    path = folder / f"{name}.json"
    if path.exists() and not replace:
        raise LibraryError(f"your library already has a block named '{name}' ({path}): "
                           "replace it, or rename the block first")
    d = {"format": FORMAT, "schema": _schema(), **main, **({"blocks": deps} if deps else {})}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, dumps(d))
    except OSError as e:
        raise LibraryError(f"could not write {path}: {e.strerror or e}") from None
    return path


def _schema() -> int:
    from .project import SCHEMA
    return SCHEMA

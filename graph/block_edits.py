"""The Graph's mutators of its project's block definitions (graph/blocks.py): add, remove
and put back, rename (every instance follows) and change a definition's title, help,
exposed parameters and loop. A mixin of graph.model.Graph."""
from __future__ import annotations

from .blocks import PREFIX, BlockDef
from .names import GraphError, id_problem


class BlockEdits:
    def add_block(self, name: str, title: str = "", doc: str = "", exposed=(),
                  index: int | None = None) -> BlockDef:
        """A new, empty definition (fill its `graph` through that graph's mutators)."""
        why = id_problem(name)
        if why:
            raise GraphError(f"block name: {why}")
        if name in self._blocks:
            raise GraphError(f"a block named '{name}' already exists")
        d = BlockDef(self._blocks, name, title, doc, tuple(exposed))
        self._blocks._put(d, index)
        return d

    def restore_block(self, d: BlockDef, index: int) -> None:
        """Put back a removed definition, as it was."""
        if d.name in self._blocks:
            raise GraphError(f"a block named '{d.name}' already exists")
        self._blocks._put(d, index)

    def remove_block(self, name: str) -> tuple[BlockDef, int]:
        """Remove an unused definition: (it, its place) for restore_block."""
        if name not in self._blocks:
            raise GraphError(f"there is no block '{name}'")
        top = self if self._owner is None else None
        used = self._blocks.users(name, top)
        if used:
            raise GraphError(f"the block '{name}' is used by {', '.join(used[:3])}"
                             f"{' and more' if len(used) > 3 else ''}: remove those first")
        return self._blocks._pop(name)

    def rename_block(self, old: str, new: str) -> None:
        """Rename a definition; every instance (here and in other definitions) follows. Call
        it on the project's graph, which holds the instances outside any definition."""
        if self._owner is not None:
            raise GraphError("rename a block from the project's graph")
        if old not in self._blocks:
            raise GraphError(f"there is no block '{old}'")
        if old == new:
            return
        why = id_problem(new)
        if why:
            raise GraphError(f"block name: {why}")
        if new in self._blocks:
            raise GraphError(f"a block named '{new}' already exists")
        reg = self._blocks
        d = reg._defs[old]
        for g in [self] + [x.graph for x in reg._defs.values()]:
            for n in g.nodes():
                if g.node_type(n) == PREFIX + old:
                    g._g.nodes[n]["type"] = PREFIX + new
        d.name, d.graph._owner = new, new
        reg._defs = {(new if k == old else k): v for k, v in reg._defs.items()}
        reg.changed(old)
        reg.changed(new)

    def set_block_info(self, name: str, *, title: str | None = None, doc: str | None = None,
                       exposed=None, loop=None, check: bool = True) -> dict:
        """Change a definition's title, help text or exposed parameters; returns the old
        values (for undo). `check=False` (loading a file) takes exposed parameters with
        problems, which analysis then reports on the instances."""
        if name not in self._blocks:
            raise GraphError(f"there is no block '{name}'")
        d = self._blocks[name]
        old = {"title": d.title, "doc": d.doc, "exposed": d.exposed, "loop": d.loop}
        if exposed is not None:  # new entries are checked; ones already there are kept
            exposed = tuple(exposed)  # as they are (analysis names their problems)
            for x in exposed:
                why = None if x in d.exposed or not check else d.exposed_problem(x)
                if why:
                    raise GraphError(why)
            d.exposed = exposed
        if loop is not None:
            d.loop = tuple(tuple(p) for p in loop)
        if title is not None:
            d.title = title or name
        if doc is not None:
            d.doc = doc
        self._blocks.changed(name)
        return old


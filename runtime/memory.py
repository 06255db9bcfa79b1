"""Memory checks before a model is built: how much this process may still allocate, and the
refusal (a CompileError naming the node and the size to lower) of weights, or one sample's
values on a wire, that would not fit. The weights are counted on the meta device
(compile.meta_module), so nothing is allocated to find out."""
from __future__ import annotations

import os

from torch import nn

from graph.analysis import Analysis, Issue
from graph.model import Graph
from graph.spec import Make, numel

from .errors import first_line


def available_memory() -> int | None:
    """Bytes this process may still allocate: MemAvailable (Linux), capped by a cgroup v2
    limit; else the free physical pages; None where neither is known (then nothing is checked)."""
    free = None
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    try:
        with open("/sys/fs/cgroup/memory.max", "rb") as f:
            limit = f.read().strip()
        if limit != b"max":
            with open("/sys/fs/cgroup/memory.current", "rb") as f:
                free = min(free, int(limit) - int(f.read()))
    except (OSError, ValueError):
        pass
    return max(free, 0)


def check_memory(graph: Graph, analysis: Analysis, free: int | None = None) -> None:
    """Refuse, before anything is allocated, a model whose weights (counted on the meta device)
    or one sample's values on some wire would not fit in the memory this machine has free."""
    # compile imports this module (compile_graph runs this check), so its names come here
    from .compile import CompileError, build_plan, describe, meta_module
    free = available_memory() if free is None else free
    issues: list[Issue] = []
    weights: dict[str, tuple[int, nn.Module, Make]] = {}
    for n in analysis.order:
        plan = build_plan(graph, analysis, n)
        if not isinstance(plan, Make):
            continue
        try:
            module = meta_module(plan)
        except RuntimeError as e:  # more than 2⁶³ bytes in one tensor
            issues.append(Issue(n, None, f"{describe(graph, n)} is too large for torch to "
                                         f"build ({first_line(e)}): "
                                         f"{_hint(graph, n, plan)}"))
            continue
        tensors = [*module.parameters(), *module.buffers()]
        weights[n] = (sum(t.numel() * t.element_size() for t in tensors), module, plan)
    if free is not None:
        for n, (nbytes, module, plan) in weights.items():
            if nbytes > free:
                issues.append(Issue(n, None, f"{describe(graph, n)} would need "
                                             f"{_bytes(nbytes)} of weights ({_tensors(module)}); "
                                             f"this machine has {_bytes(free)} free: "
                                             f"{_hint(graph, n, plan)}"))
        total = sum(w[0] for w in weights.values())
        if not issues and total > free:
            big = sorted(weights, key=lambda n: -weights[n][0])
            parts = ", ".join(f"{describe(graph, n)} {_bytes(weights[n][0])}" for n in big[:3])
            issues.append(Issue(big[0], None, f"the model's weights would need {_bytes(total)} "
                                              f"({parts}{', …' if len(big) > 3 else ''}); this "
                                              f"machine has {_bytes(free)} free: use smaller "
                                              "layers"))
        for (n, port), t in analysis.types.items():
            size = numel(t.sample_shape)
            nbytes = (size or 0) * (8 if t.dtype == "int64" else 4)
            if nbytes > free:
                issues.append(Issue(n, None, f"{describe(graph, n)} gives {t}: one sample alone "
                                             f"would need {_bytes(nbytes)}; this machine has "
                                             f"{_bytes(free)} free: use smaller sizes"))
                break
    if issues:
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise CompileError(f"{issues[0]}{more}", issues)


def format_bytes(n: int) -> str:
    """'8.0 GiB': a size for people."""
    return _bytes(n)


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024:
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} EiB"


def _tensors(module: nn.Module) -> str:
    """'2,147,483,647 × 512 + 2,147,483,647 = 1,101,659,110,911 floats'."""
    ts = [*module.parameters(), *module.buffers()]
    total = sum(t.numel() for t in ts)
    shapes = " + ".join(" × ".join(f"{d:,}" for d in t.shape) or "1" for t in ts[:3])
    what = "floats" if all(t.is_floating_point() for t in ts) else "values"
    return f"{shapes}{' + …' if len(ts) > 3 else ''} = {total:,} {what}"


def _hint(graph: Graph, n: str, plan: Make) -> str:
    """Which size to lower: the largest one the module is built with."""
    sizes = {k: v for k, v in plan.kwargs.items()
             if isinstance(v, int) and not isinstance(v, bool) and v > 1}
    if not sizes:
        return "use smaller sizes"
    name = max(sizes, key=sizes.get)
    if graph.spec(n).resolved(graph.params(n)).get(name) is not None:
        return f"lower {name}"
    edges = graph.in_edges(n)
    src = f" from '{edges[0].src}'" if edges else ""
    return f"lower the size of its input{src} ({name} = {sizes[name]:,})"

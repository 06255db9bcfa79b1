"""graph/ loads without torch or Qt; runtime/ without Qt (DESIGN.md, principle 1)."""
import subprocess
import sys

import pytest

HEAVY = ("torch", "PySide6", "shiboken6", "pyqtgraph")


def imported_roots(modules: str) -> set[str]:
    code = (f"import sys\nimport {modules}\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_graph_package_imports_neither_torch_nor_qt():
    roots = imported_roots("graph, graph.catalogue, graph.model, graph.analysis, graph.project, "
                           "graph.layout, graph.fileio, graph.settings, templates")
    assert "graph" in roots and "networkx" in roots
    assert not roots & set(HEAVY), roots & set(HEAVY)


@pytest.mark.parametrize("mod", ["runtime.compile", "runtime.train", "runtime.data", "app.cli"])
def test_runtime_and_cli_import_no_qt(mod):
    roots = imported_roots(mod)
    assert not roots & {"PySide6", "shiboken6", "pyqtgraph"}

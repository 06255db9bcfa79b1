"""Import as a user meets it, in a real window driven by xdotool (issue 26): File > Import
PyTorch Model… clicked in the menu bar, the zoo's file typed in, read, the ResNet picked,
its input typed, imported, the report looked at, Open clicked; the project with its blocks;
one BasicBlock instance opened by a double-click.

  xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/python tools/xvfb_import.py OUT_DIR

The dialog is modal: the click on the menu entry returns only once it closes, so what is
done inside it runs from timers (xvfb_session.later) while its own event loop turns.
Needs what tools/xvfb_session.py needs (xvfb, imagemagick, xdotool).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import xvfb_session as s  # noqa: E402


def typed(widget, text: str) -> list:
    """An xdotool chain: triple-click into `widget`, select all, type `text`."""
    return ["mousemove", *s.glob(widget, widget.rect().center()), "click", "--repeat", 3, 1,
            "key", "ctrl+a", "type", "--delay", 20, text]


def center(widget) -> list:
    return ["mousemove", *s.glob(widget, widget.rect().center()), "click", 1]


def drive_dialog(tmp: Path) -> None:
    """Steps inside the modal dialog, each once the one before has shown its effect."""
    from PySide6.QtWidgets import QApplication

    from app.import_dialog import ImportDialog
    steps = []

    def step():
        dlg = QApplication.activeModalWidget()

        if not isinstance(dlg, ImportDialog):
            s.later(300, step)
            return
        zoo, out = str(ROOT / "tests" / "zoo" / "nets.py"), str(tmp / "resnet.json")
        # xdotool's `type` takes the rest of its command line: one chain per field
        if not steps:
            steps.append("file")
            s.xdo_async(*typed(dlg.file, zoo))
        elif steps[-1] == "file" and dlg.file.text() == zoo:
            steps.append("read")
            s.xdo_async(*center(dlg.read))
        elif steps[-1] == "read" and dlg.name.count():
            steps.append("inputs")
            s.log.append(f"read: {dlg.report.toPlainText()[:160]!r}")
            dlg.name.setCurrentText("ResNet")  # the list's choice (a popup is not shot)
            s.xdo_async(*typed(dlg.inputs, "x=2,3,32,32"))
        elif steps[-1] == "inputs" and dlg.inputs.text() == "x=2,3,32,32":
            steps.append("out")
            s.xdo_async(*typed(dlg.out, out))
        elif steps[-1] == "out" and dlg.out.text() == out:
            steps.append("import")
            s.xdo_async(*center(dlg.go))
        elif steps[-1] == "import" and dlg.go.text() == "Open":
            steps.append("imported")
            s.log.append(f"report: {dlg.report.toPlainText()!r}")
            import subprocess
            subprocess.run(["import", "-window", "root", str(s.OUT / "i01-report.png")])
            s.xdo_async(*center(dlg.go))  # Open: the window opens the project
            return
        s.later(300, step)
    s.later(500, step)


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    s.pump(1.5)
    s.activate()
    bar = s.win.menuBar()
    file_menu = next(a for a in bar.actions() if a.text() == "&File")
    s.click(s.glob(bar, bar.actionGeometry(file_menu).center()))
    s.pump(0.5)
    menu = file_menu.menu()
    s.log.append(f"File menu open: {menu.isVisible()}")
    drive_dialog(tmp)
    s.click(s.glob(menu, menu.actionGeometry(s.win.a_import).center()))  # back when closed
    s.pump(1.5)
    s.key("ctrl+0")
    s.pump(1.0)
    g = s.win.doc.graph
    s.log.append(f"opened {s.win.doc.path}: {len(g)} nodes, blocks {list(g.blocks)}, "
                 f"instances {[n for n in g.nodes() if g.node_type(n).startswith('block:')]}; "
                 f"status '{s.win.statusBar().currentMessage()}'")
    s.click(s.node_header("layer2_0"))
    s.pump(0.8)
    s.shot("i02-graph")
    s.click(s.node_header("layer2_0"), repeat=2)
    s.pump(1.0)
    s.key("ctrl+0")
    s.pump(1.0)
    s.log.append(f"inside: crumbs '{s.win.crumbs.text()}', nodes {list(s.win.scene.nodes)}")
    s.shot("i03-block")
    (s.OUT / "session.log").write_text("\n".join(s.log) + "\n")
    s.win.doc.undo.setClean()
    s.win.close()


if __name__ == "__main__":
    s.run_script(main, hang_after=100)

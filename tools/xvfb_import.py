"""Import as a user meets it, in a real window driven by xdotool (issue 26): the import
dialog (as File > Import PyTorch Model… opens it) given the zoo's file by typing, read, the
ResNet picked, its input typed, imported; the report looked at; the project opened with its
blocks; one BasicBlock instance opened.

  xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/python tools/xvfb_import.py OUT_DIR

Needs what tools/xvfb_session.py needs (xvfb, imagemagick, xdotool).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import xvfb_session as s  # noqa: E402


def field(dlg, widget, text: str) -> None:
    s.click(s.glob(widget, widget.rect().center()), repeat=3)
    s.key("ctrl+a")
    s.type_text(text)
    s.pump(0.3)


def main() -> None:
    from app.import_dialog import ImportDialog
    tmp = Path(tempfile.mkdtemp())
    s.pump(1.5)
    s.activate()
    dlg = ImportDialog(s.win)  # what File > Import PyTorch Model… shows (it runs it modal)
    dlg.move(300, 150)
    dlg.show()
    s.pump(1.0)
    field(dlg, dlg.file, str(ROOT / "tests" / "zoo" / "nets.py"))
    s.click(s.glob(dlg.read, dlg.read.rect().center()))
    dlg.wait(60)
    s.pump(0.5)
    s.log.append(f"read: {dlg.report.toPlainText()!r}")
    dlg.name.setCurrentText("ResNet")  # the list's choice (a combo popup is not screenshot)
    s.pump(0.3)
    field(dlg, dlg.inputs, "x=2,3,32,32")
    field(dlg, dlg.out, str(tmp / "resnet.json"))
    s.click(s.glob(dlg.go, dlg.go.rect().center()))
    dlg.wait(120)
    s.pump(0.8)
    s.log.append(f"report: {dlg.report.toPlainText()!r}")
    s.shot("i01-report")
    s.click(s.glob(dlg.go, dlg.go.rect().center()))  # Open
    s.pump(0.5)
    s.win.open_path(dlg.saved, ask=False)  # what open_import does on Open
    s.pump(1.5)
    s.key("ctrl+0")
    s.pump(1.0)
    g = s.win.doc.graph
    s.log.append(f"opened: {len(g)} nodes, blocks {list(g.blocks)}, "
                 f"instances {[n for n in g.nodes() if g.node_type(n).startswith('block:')]}")
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
    import faulthandler
    faulthandler.dump_traceback_later(300, exit=True)
    s.start()
    try:
        main()
    except Exception as e:
        import traceback
        s.log.append("FAILED: " + "".join(traceback.format_exception(e)))
        (s.OUT / "session.log").write_text("\n".join(s.log) + "\n")
        raise SystemExit(1)

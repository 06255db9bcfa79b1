"""Blocks as a user meets them, in a real window driven by xdotool (issue 25): the CNN
template's conv2 and relu2 selected with the mouse, grouped with Ctrl+G and named, opened by
a double-click, edited inside, left through the breadcrumb, set to repeat × 4; then the
gate-built LSTM opened and its forget gate selected.

  xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/python tools/xvfb_blocks.py OUT_DIR

Needs what tools/xvfb_session.py needs (xvfb, imagemagick, xdotool).
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import xvfb_session as s  # noqa: E402


def ctrl_click(xy) -> None:
    s.xdo("mousemove", *xy)
    s.xdo("keydown", "ctrl", "click", 1, "keyup", "ctrl")
    s.pump(0.3)


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    cnn = Path(shutil.copy(ROOT / "templates" / "cnn.json", tmp / "cnn.json"))
    s.pump(1.5)
    s.activate()
    s.win.open_path(cnn, ask=False)
    s.pump(1.0)
    s.click(s.node_header("conv2"))
    ctrl_click(s.node_header("relu2"))
    s.log.append(f"selected {s.win.scene.selected_nodes()}")
    s.key("ctrl+g")
    s.pump(0.8)
    [inst] = s.win.scene.selected_nodes()
    s.log.append(f"grouped into '{inst}' ({s.win.doc.graph.node_type(inst)}); focus "
                 f"{type(s.win.focusWidget()).__name__}")
    s.key("ctrl+a")
    s.type_text("features")
    s.key("Return")
    s.pump(0.8)
    s.log.append(f"block named: {s.win.doc.graph.node_type(inst)}")
    s.shot("b01-grouped")
    s.click(s.node_header(inst), repeat=2)  # double-click: open its definition
    s.pump(1.0)
    s.log.append(f"opened: crumbs '{s.win.crumbs.text()}', nodes {s.win.scene.nodes.keys()}")
    s.set_field("conv2", "out_channels", "24")  # an edit inside
    s.pump(0.8)
    s.shot("b02-inside")
    s.click(s.glob(s.win.crumbs.buttons[0], s.win.crumbs.buttons[0].rect().center()))
    s.pump(0.8)
    s.log.append(f"back: crumbs visible {s.win.crumbs.isVisible()}")
    s.set_field(inst, "repeat", "4")
    s.pump(1.0)
    s.click(s.canvas_point(20, 20))  # nothing selected: the whole graph in view
    s.key("ctrl+0")
    s.pump(1.0)
    a = s.win.doc.analysis
    s.log.append(f"repeat {s.win.doc.graph.params(inst)['repeat']}; errors {a.errors}; "
                 f"{inst} gives {a.out_type(inst, s.win.doc.graph.spec(inst).outputs[0].name)}")
    s.click(s.node_header(inst))
    s.pump(0.8)
    s.shot("b03-repeat4")
    lstm = Path(shutil.copy(ROOT / "templates" / "lstm_from_gates.json", tmp / "lstm.json"))
    s.win.doc.undo.setClean()
    s.win.open_path(lstm, ask=False)
    s.pump(1.0)
    s.click(s.node_header("lstm"), repeat=2)
    s.pump(1.0)
    s.key("ctrl+0")
    s.pump(1.0)
    s.click(s.node_header("f"))
    s.pump(1.0)
    s.log.append(f"lstm cell: crumbs '{s.win.crumbs.text()}', help starts "
                 f"{s.win.help.toPlainText()[:120]!r}")
    s.shot("b04-lstm-cell")
    (s.OUT / "session.log").write_text("\n".join(s.log) + "\n")
    s.win.doc.undo.setClean()
    s.win.close()


if __name__ == "__main__":
    s.run_script(main)

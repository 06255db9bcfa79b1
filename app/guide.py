"""Help > Getting Started and Help > Keyboard Shortcuts: a short guide, and every shortcut
the window has, read from its actions (so the list can never go stale)."""
from __future__ import annotations

from html import escape

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

GUIDE = """
<h2>Getting started</h2>
<ol>
<li><b>Start from a template</b> (File &gt; New from Template, Ctrl+Shift+N): the perceptron,
an MLP or a CNN, each a ready graph with its data bound. Or drag layers from the
<i>Nodes</i> palette onto the canvas (Tab, or a double-click, opens a quick search).</li>
<li><b>Wire</b> an output port (right side of a node) to an input port (left side). Every wire
shows the tensor shape flowing through it; a red badge on a node says what is wrong
(hover it).</li>
<li><b>Set parameters</b> in the <i>Inspector</i> with the node selected; with nothing selected
it shows the project's name and description. <i>Layer help</i> gives each layer's formula
and use.</li>
<li><b>Add a loss</b>: a loss node (e.g. Categorical cross-entropy) takes the model's output
(<i>pred</i>) and a <i>Target</i> node; the model that exports is everything from the
Inputs to the Outputs.</li>
<li><b>Choose the data</b> in the <i>Training</i> panel: a generated set, the 8 × 8 digits,
your own CSV / NPZ file, or a folder of your own images with one subfolder per class
(<i>Image folder</i>: PNG, JPEG, …, resized to the Input's size, pixels / 255; the
subfolders' names are the classes). Its fields bind to the Input and Target nodes (filled
in when the names match).</li>
<li><b>Train</b> with Train &gt; Run (F5). The live plots show the loss, the metrics, the
learning rate and each layer's gradient norm; the nodes turn blue where gradients vanish
and red where they explode. Pause with F6, stop with Shift+F5; a stopped run resumes
from the Runs list.</li>
<li><b>Export</b> the trained model with File &gt; Export (Ctrl+E): a safetensors bundle,
TorchScript, ONNX, a torch.export ExportedProgram (.pt2), or one standalone Python
file.</li>
</ol>
<p>Every edit can be undone (Ctrl+Z; Edit &gt; History lists them). Unsaved work is kept
every minute and offered back after a crash.</p>
"""

GESTURES = [
    ("Mouse wheel", "zoom around the cursor"),
    ("Middle button drag, or Space + drag", "pan the canvas"),
    ("Drag on empty canvas", "select the nodes inside the rectangle"),
    ("Drag from an output port to an input port", "wire them"),
    ("Drop a wire on empty canvas", "add a node that takes it"),
    ("Tab, or double-click the canvas", "add a node (quick search)"),
    ("Drag a node", "move it (one undo step)"),
]


def _menu_actions(menu):
    for action in menu.actions():
        if action.menu() is not None:
            yield from _menu_actions(action.menu())
        elif not action.isSeparator():
            yield action


def shortcut_rows(window) -> list[tuple[str, str]]:
    """(what, keys) for every menu command of `window` that has a shortcut, in menu order."""
    rows, seen = [], set()
    fixed = {id(getattr(window, "a_undo", None)): "Undo", id(getattr(window, "a_redo", None)):
             "Redo"}  # their text names the edit they would undo
    for top in window.menuBar().actions():
        for action in _menu_actions(top.menu()):
            keys = [k.toString(QKeySequence.NativeText) for k in action.shortcuts()
                    if not k.isEmpty()]
            text = fixed.get(id(action)) or action.text().replace("&", "").rstrip("…").strip()
            if keys and text and id(action) not in seen:
                seen.add(id(action))
                rows.append((text, " or ".join(keys)))
    return rows


def shortcuts_html(window) -> str:
    rows = "".join(f"<tr><td>{escape(t)}</td><td><b>{escape(k)}</b></td></tr>"
                   for t, k in shortcut_rows(window))
    gestures = "".join(f"<tr><td>{escape(g)}</td><td>{escape(w)}</td></tr>" for g, w in GESTURES)
    return (f"<h2>Keyboard shortcuts</h2><table cellspacing=4>{rows}</table>"
            f"<h3>Mouse</h3><table cellspacing=4>{gestures}</table>")


class TextDialog(QDialog):
    def __init__(self, title: str, html: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(560, 600)
        layout = QVBoxLayout(self)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(False)
        self.text.setHtml(html)
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)

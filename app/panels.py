"""Read-only panels: layer help, model summary, generated code."""
from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (QHeaderView, QLabel, QPlainTextEdit, QTableWidget,
                               QTableWidgetItem, QTextBrowser, QVBoxLayout, QWidget)

from graph import catalogue
from graph.spec import NodeSpec

from .warmup import runtime_ready, warmup

FORMULA_FONTS = "'DejaVu Serif', 'Cambria Math', 'STIX Two Math', 'Times New Roman', serif"


def help_html(spec: NodeSpec, node: str = "", note: str = "") -> str:
    """A node type's help; for a node on the canvas, its name and its own note first (what
    this node does here: an LSTM cell's forget gate)."""
    e = html.escape
    d = spec.doc
    parts = [f"<h2 style='margin-bottom:2px'>{e(spec.title)}</h2>",
             f"<p style='color:#5c6670;margin-top:0'>{e(spec.category)} · type "
             f"<code>{e(spec.type)}</code></p>"]
    if note:
        parts.append(f"<p style='background:#fdf6e3; padding:6px'><b>{e(node)}</b>: "
                     f"{e(note)}</p>")
    parts.append(f"<p>{e(d.summary)}</p>")
    if d.formula:
        lines = "<br>".join(e(line) for line in d.formula.split("\n"))
        parts.append(f"<p style=\"font-family:{FORMULA_FONTS}; font-size:15px; background:#f3f5f8;"
                     f" padding:8px; line-height:150%\">{lines}</p>")
    if d.use_case:
        parts.append(f"<h3>Use</h3><p>{e(d.use_case)}</p>")
    if d.notes:
        parts.append(f"<p style='color:#37414b'><i>{e(d.notes)}</i></p>")
    if spec.inputs or spec.outputs:
        rows = "".join(f"<li><b>{e(p.name)}</b> (input, {p.kind}{', several wires' if p.multi else ''})"
                       f"{(' – ' + e(p.doc)) if p.doc else ''}</li>" for p in spec.inputs)
        rows += "".join(f"<li><b>{e(p.name)}</b> (output, {p.kind})</li>" for p in spec.outputs)
        parts.append(f"<h3>Ports</h3><ul>{rows}</ul>")
    if spec.params:
        rows = "".join(
            f"<tr><td valign='top'><b>{e(p.title)}</b></td><td valign='top'>"
            f"{e('auto' if p.default is None else str(p.default))}</td><td>{e(p.help)}</td></tr>"
            for p in spec.params)
        parts.append("<h3>Parameters</h3><table cellspacing='4'><tr><th align='left'>name</th>"
                     f"<th align='left'>default</th><th align='left'></th></tr>{rows}</table>")
    return "\n".join(parts)


class HelpView(QTextBrowser):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setOpenExternalLinks(False)
        self.show_type(None)

    FIGURE = "roi-pool-vs-align"  # the seed's quantisation point, drawn (NodeSpec.figure)
    FIGURE_URL = f"figure:{FIGURE}"

    def show_type(self, type_id: str | None) -> None:
        self.shown = type_id
        if type_id is None:
            self.setHtml("<p style='color:#5c6670'>Select a node, or hover a palette entry, to "
                         "read what the layer computes and when to use it.</p>")
            return
        spec = catalogue.get(type_id)
        text = help_html(spec)
        if spec.figure == self.FIGURE:
            text += self._figure_html()
        self.setHtml(text)

    def show_node(self, graph, node: str) -> None:
        """A node's help: its note, then its type's (a block instance's: its definition's)."""
        spec = graph.spec(node)
        self.shown = spec.type if not spec.type.startswith("block:") else None
        text = help_html(spec, node, graph.note(node))
        if spec.figure == self.FIGURE:
            text += self._figure_html()
        self.setHtml(text)

    def _figure_html(self) -> str:
        """RoIPool and RoIAlign on one proposal (app/roi_figure.py; computed by the real ops,
        so once torch has loaded)."""
        head = "<h3>RoIPool versus RoIAlign</h3>"
        if not runtime_ready():
            warmup().ready.connect(self._figure_ready, Qt.UniqueConnection)
            return head + "<p style='color:#5c6670'>(the figure appears once the runtime has " \
                          "loaded)</p>"
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QTextDocument

        from .roi_figure import figure
        self.document().addResource(QTextDocument.ImageResource, QUrl(self.FIGURE_URL),
                                    figure())
        return (head + f"<p><img src='{self.FIGURE_URL}'></p><p>One proposal pooled to 7 × 7 "
                "from a feature map. RoIPool rounds the box to whole map pixels (red, dashed) "
                "and takes each bin's maximum; RoIAlign samples the map bilinearly inside the "
                "exact box (orange). Moved by less than half a pixel, the box pools to the same "
                "values under RoIPool, while RoIAlign's output moves with it: the alignment "
                "a mask needs.</p>")

    def _figure_ready(self) -> None:
        shown = getattr(self, "shown", None)
        if shown is not None and catalogue.get(shown).figure == self.FIGURE:
            self.show_type(shown)


class SummaryView(QWidget):
    """Nodes with their output shape and parameter count, and the totals. Parameter counts
    come from building each node's torch module (cached), so they are exact."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["node", "type", "output", "params"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.Stretch)
        self.totals = QLabel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        layout.addWidget(self.totals)
        self._cache: dict = {}
        self._pending = None
        self._timer = QTimer(self, singleShot=True, interval=150)
        self._timer.timeout.connect(self._refresh)

    def update_from(self, graph, analysis) -> None:
        self._pending = (graph, analysis)
        if self.isVisible():
            self._timer.start()

    def showEvent(self, event):
        super().showEvent(event)
        if self._pending:
            self._timer.start()

    def _runtime_ready(self) -> None:
        if self.isVisible() and self._pending:
            self._timer.start()

    def _params(self, graph, analysis, node):
        from runtime.summary import node_params
        spec = graph.spec(node)
        key = (spec.type, repr(sorted(graph.params(node).items())),
               tuple(str(analysis.edge_type(e)) for e in graph.in_edges(node)),
               graph.blocks.version if spec.type.startswith("block:") else 0)
        if key not in self._cache:
            try:
                self._cache[key] = node_params(graph, analysis, node)
            except Exception:  # a module torch refuses to build: shown as unknown
                self._cache[key] = None
        return self._cache[key]

    def _refresh(self) -> None:
        if not self._pending or not self.isVisible():
            return  # refreshed when shown
        if not runtime_ready():  # counting needs torch, still loading in the background
            self.totals.setText("Loading PyTorch to count parameters…")
            warmup().ready.connect(self._runtime_ready, Qt.UniqueConnection)
            return
        graph, analysis = self._pending
        nodes = graph.nodes()
        self.table.setUpdatesEnabled(False)
        self.table.setRowCount(len(nodes))
        total = 0
        unknown = False
        for r, n in enumerate(nodes):
            spec = graph.spec(n)
            outs = [analysis.out_type(n, p.name) for p in spec.outputs]
            out = ", ".join(str(t) if t else "?" for t in outs) if outs else "—"
            count = self._params(graph, analysis, n)
            unknown |= count is None
            total += count or 0
            cells = (n, spec.title, out, "?" if count is None else f"{count:,}")
            for c, text in enumerate(cells):
                item = self.table.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(r, c, item)
                item.setText(text)
                if c == 3:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.table.setUpdatesEnabled(True)
        kib = total * 4 / 1024
        self.totals.setText(f"{len(nodes)} nodes · {total:,} parameters"
                            f"{' (+ unknown)' if unknown else ''} · {kib:,.1f} KiB of float32 "
                            "weights")


_NONE_HINT = re.compile(r";  (?:\w+ = )+None$")


def readable_code(code: str) -> str:
    """gm.code without fx's `;  x = None` memory hints and the blank lines around it."""
    lines = [_NONE_HINT.sub("", line.rstrip()) for line in code.strip("\n").splitlines()]
    return "\n".join(line for line in lines if line.strip()) + "\n"


class CodeView(QPlainTextEdit):
    """The compiled model's forward(), read-only; compiled when visible, after edits settle."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setReadOnly(True)
        font = QFontDatabase.systemFont(QFontDatabase.FixedFont)
        font.setPointSizeF(9.5)
        self.setFont(font)
        self.setLineWrapMode(QPlainTextEdit.NoWrap)
        self._graph = None
        self._timer = QTimer(self, singleShot=True, interval=300)
        self._timer.timeout.connect(self._refresh)

    def update_from(self, graph, analysis, standardize: bool = False) -> None:
        self._graph, self._analysis, self._standardize = graph, analysis, standardize
        if self.isVisible():
            self._timer.start()

    def showEvent(self, event):
        super().showEvent(event)
        if self._graph is not None:
            self._timer.start()

    def _runtime_ready(self) -> None:
        if self.isVisible() and self._graph is not None:
            self._timer.start()

    def _refresh(self) -> None:
        if self._graph is None or not self.isVisible():
            return  # refreshed when shown
        if not self._analysis.ok:
            lines = ["# The graph has problems; fix them to see the generated code:"]
            lines += [f"#   {i}" for i in self._analysis.errors[:20]]
            self.setPlainText("\n".join(lines))
            return
        if not runtime_ready():  # compiling needs torch, still loading in the background
            self.setPlainText("# Loading PyTorch…")
            warmup().ready.connect(self._runtime_ready, Qt.UniqueConnection)
            return
        from runtime.compile import CompileError, compile_graph
        try:
            c = compile_graph(self._graph, standardize=getattr(self, "_standardize", False))
        except CompileError as e:
            self.setPlainText(f"# {e}")
            return
        except Exception as e:  # torch refused a module: say so, keep the window alive
            self.setPlainText(f"# Could not build the model: {type(e).__name__}: {e}")
            return
        header = (f"# The compiled model (torch.fx GraphModule): inputs {', '.join(c.inputs) or '—'}"
                  f"; returns {', '.join(c.outputs) or 'nothing'}.\n"
                  "# Submodules are named after their nodes: self.<node> holds its weights.\n")
        self.setPlainText(header + readable_code(c.model.code))

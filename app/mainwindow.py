"""The main window: canvas in the centre; docks for the palette, inspector, help, summary and
generated code; menus and toolbar with the standard shortcuts; recent files; remembered
layout; unsaved-changes prompts; autosave and crash recovery.

Prompts go through small `ask_*` methods so that tests (and scripted demos) can answer them.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QPointF, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QUndoGroup
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox,
                               QUndoView)

from graph import catalogue
from graph.layout import layered_positions, wrap_for_aspect
from graph.project import Project, ProjectError, load

from . import recovery
from .canvas.scene import GraphScene
from .canvas.view import GraphView
from .document import Document, EditRefused, Editor
from .inspector import Inspector
from .palette import Palette
from .panels import CodeView, HelpView, SummaryView
from .plotdata import LiveData
from .plots import LivePlots
from .samples_view import SamplesView
from .quickadd import QuickAdd
from .training import TrainingController
from .training_panel import TrainingPanel
from .try_panel import TryPanel
from .warmup import warmup

MAX_RECENT = 8
AUTOSAVE_MS = 60_000


def settings() -> QSettings:
    base = os.environ.get("LAYERLOOM_HOME")
    if base:
        return QSettings(str(Path(base) / "settings.ini"), QSettings.IniFormat)
    return QSettings("LayerLoom", "LayerLoom")


class MainWindow(QMainWindow):
    def __init__(self, autosave_ms: int = AUTOSAVE_MS):
        super().__init__()
        self.setObjectName("LayerLoom")
        self.resize(1500, 920)
        self.doc: Document | None = None
        self.scene: GraphScene | None = None
        self.editor: Editor | None = None
        self.autosaver: recovery.Autosaver | None = None
        self.undo_group = QUndoGroup(self)

        self.view = GraphView()
        self.setCentralWidget(self.view)
        self.palette = Palette()
        self.inspector = Inspector()
        self.help = HelpView()
        self.summary = SummaryView()
        self.code = CodeView()
        self.history = QUndoView(self.undo_group)
        self.training = TrainingPanel()
        self.trypanel = TryPanel()
        self.live = LiveData()
        self.plots = LivePlots(self.live)
        self.samples = SamplesView(self.live)
        self.trainer = TrainingController(self)
        self.history.setEmptyLabel("<opened>")
        self.docks = {}
        for key, title, widget, area in (
                ("palette", "Nodes", self.palette, Qt.LeftDockWidgetArea),
                ("inspector", "Inspector", self.inspector, Qt.RightDockWidgetArea),
                ("help", "Layer help", self.help, Qt.RightDockWidgetArea),
                ("summary", "Model summary", self.summary, Qt.BottomDockWidgetArea),
                ("code", "Generated code", self.code, Qt.BottomDockWidgetArea),
                ("plots", "Live plots", self.plots, Qt.BottomDockWidgetArea),
                ("try", "Try the model", self.trypanel, Qt.BottomDockWidgetArea),
                ("samples", "Samples", self.samples, Qt.BottomDockWidgetArea),
                ("training", "Training", self.training, Qt.RightDockWidgetArea),
                ("history", "History", self.history, Qt.RightDockWidgetArea)):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{key}")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        self.tabifyDockWidget(self.docks["summary"], self.docks["code"])
        self.tabifyDockWidget(self.docks["summary"], self.docks["plots"])
        self.tabifyDockWidget(self.docks["summary"], self.docks["try"])
        self.tabifyDockWidget(self.docks["help"], self.docks["training"])
        self.docks["summary"].raise_()
        self.docks["help"].raise_()
        self.docks["history"].hide()
        self.docks["samples"].hide()  # shown when a generator's samples arrive
        self.resizeDocks([self.docks["palette"]], [230], Qt.Horizontal)
        self.resizeDocks([self.docks["inspector"]], [340], Qt.Horizontal)
        # The bottom area is tall enough for the live plots from the start: raising them when a
        # run starts then repaints one dock instead of relaying out the window.
        self.resizeDocks([self.docks["summary"]], [360], Qt.Vertical)

        self.quick = QuickAdd(self)
        self._quick_target: tuple | None = None  # (scene pos, port to wire or None)
        self.quick.chosen.connect(self._quick_chosen)
        self.status = QLabel()
        self.statusBar().addWidget(self.status, 1)
        self.zoom_label = QLabel()
        self.statusBar().addPermanentWidget(self.zoom_label)

        self._make_actions()
        self._wire_signals()
        self._restore_layout()
        self.set_document(Document(Project()))
        warmup().start()  # torch loads in the background; the summary and code wait for it
        self._plot_timer = QTimer(self, interval=90)  # live plots repaint at ~11 Hz at most
        self._plot_timer.timeout.connect(self._refresh_live)
        self._heat_due = self._progress_due = 0.0  # node colours and progress text: throttled
        self.autosave_timer = QTimer(self, interval=autosave_ms)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()

    # Actions ------------------------------------------------------------------------------------
    def _act(self, text, slot, shortcut=None, menu=None, tip=None, checkable=False):
        a = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                a.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
        a.setCheckable(checkable)
        # triggered(bool) passes `checked`; only a checkable action's slot wants it. Passed to
        # start_training(resume=...) it made Train > Run, F5 and the toolbar's Run do nothing.
        a.triggered.connect(slot if checkable else (lambda _checked=False, f=slot: f()))
        if menu is not None:
            menu.addAction(a)
        self.addAction(a)
        return a

    def _make_actions(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self.a_new = self._act("&New", self.new, QKeySequence.New, f)
        self.a_template = self._act("New from &Template…", self.new_from_template, "Ctrl+Shift+N", f)
        self.a_open = self._act("&Open…", self.open_dialog, QKeySequence.Open, f)
        self.recent_menu = f.addMenu("Open &Recent")
        f.addSeparator()
        self.a_save = self._act("&Save", self.save, QKeySequence.Save, f)
        self.a_save_as = self._act("Save &As…", self.save_as, QKeySequence.SaveAs, f)
        self.a_export = self._act("&Export…", self.export_dialog, "Ctrl+E", f)
        self.a_properties = self._act("Project &Properties…", self.project_properties, None, f,
                                      "The project's name and description")
        f.addSeparator()
        self._act("&Quit", self.close, QKeySequence.Quit, f)

        e = mb.addMenu("&Edit")
        self.a_undo = self.undo_group.createUndoAction(self, "&Undo")
        self.a_undo.setShortcut(QKeySequence.Undo)
        self.a_redo = self.undo_group.createRedoAction(self, "&Redo")
        self.a_redo.setShortcut(QKeySequence.Redo)
        e.addAction(self.a_undo)
        e.addAction(self.a_redo)
        e.addSeparator()
        self.a_cut = self._act("Cu&t", self.cut, QKeySequence.Cut, e)
        self.a_copy = self._act("&Copy", self.copy, QKeySequence.Copy, e)
        self.a_paste = self._act("&Paste", self.paste, QKeySequence.Paste, e)
        self.a_duplicate = self._act("D&uplicate", self.duplicate, "Ctrl+D", e)
        self.a_delete = self._act("&Delete", self.delete_selection,
                                  [QKeySequence.Delete, QKeySequence("Backspace")], e)
        self.a_select_all = self._act("Select &All", self.select_all, QKeySequence.SelectAll, e)
        e.addSeparator()
        self.a_history = self.docks["history"].toggleViewAction()
        self.a_history.setText("&History")
        self.a_history.setShortcut(QKeySequence("Ctrl+H"))
        e.addAction(self.a_history)

        v = mb.addMenu("&View")
        self.a_fit = self._act("&Fit to View", self.view.fit_to_view, ["Ctrl+0", "Home"], v)
        self._act("Zoom &In", lambda: self.view.set_zoom(self.view.zoom * 1.25),
                  QKeySequence.ZoomIn, v)
        self._act("Zoom &Out", lambda: self.view.set_zoom(self.view.zoom / 1.25),
                  QKeySequence.ZoomOut, v)
        v.addSeparator()
        self.a_snap = self._act("&Snap to Grid", self._toggle_snap, None, v, checkable=True)
        self.a_snap.setChecked(True)
        self.a_arrange = self._act("&Arrange (auto-layout)", self.arrange, "Ctrl+L", v)
        self.a_quick = self._act("&Add Node…", lambda: self.view.quickAddRequested.emit(
            self.view.center_scene_pos()), None, v)
        v.addSeparator()
        for key in ("palette", "inspector", "help", "summary", "code"):
            v.addAction(self.docks[key].toggleViewAction())

        t = mb.addMenu("&Train")
        self.a_run = self._act("&Run", self.start_training, "F5", t)
        self.a_pause = self._act("&Pause / Resume", self.toggle_pause, "F6", t)
        self.a_stop = self._act("&Stop", self.stop_training, "Shift+F5", t)
        t.addSeparator()
        self.a_try = self._act("&Try the Model", self.try_model, "Ctrl+T", t,
                               "A validation sample and the trained model's prediction; text "
                               "from a prompt for a character model")
        t.addSeparator()
        for key in ("training", "plots", "try", "samples"):
            t.addAction(self.docks[key].toggleViewAction())

        h = mb.addMenu("&Help")
        self.a_guide = self._act("&Getting Started", self.show_guide, "F1", h)
        self.a_shortcuts = self._act("&Keyboard Shortcuts", self.show_shortcuts, "Ctrl+/", h)
        h.addSeparator()
        self._act("&About LayerLoom", self.about, None, h)

        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        for a in (self.a_new, self.a_open, self.a_save, None, self.a_undo, self.a_redo, None,
                  self.a_fit, self.a_arrange, self.a_quick, None, self.a_run, self.a_stop,
                  self.a_export):
            tb.addSeparator() if a is None else tb.addAction(a)
        self._refresh_recent()

    def _wire_signals(self) -> None:
        self.palette.addRequested.connect(
            lambda t: self._add_node(t, self.view.center_scene_pos()))
        self.palette.tree.currentItemChanged.connect(
            lambda it, _: self.help.show_type(it.data(0, Qt.UserRole + 1)) if it and
            it.data(0, Qt.UserRole + 1) else None)
        self.view.nodeDropped.connect(self._add_node)
        self.view.quickAddRequested.connect(lambda pos: self._open_quick(pos, None))
        self.view.zoomChanged.connect(self._zoom_changed)
        self.inspector.message.connect(self.show_message)
        self.trypanel.message.connect(self.show_message)
        self.training.message.connect(self.show_message)
        self.training.runRequested.connect(self.start_training)
        self.training.stopRequested.connect(self.stop_training)
        self.training.pauseRequested.connect(self.trainer.pause)
        self.training.resumeRequested.connect(self.trainer.resume)
        self.training.resumeRunRequested.connect(lambda run: self.start_training(resume=run))
        self.training.compareRequested.connect(self._compare_runs)
        self.trainer.event.connect(self._training_event)
        self.trainer.stateChanged.connect(self._training_state)
        self.trainer.devicesReady.connect(self.training.set_devices)

    # Documents ----------------------------------------------------------------------------------
    def set_document(self, doc: Document) -> None:
        old_doc, old_scene = self.doc, self.scene
        if old_scene is not None:
            old_scene.close()
        if old_doc is not None:
            self.undo_group.removeStack(old_doc.undo)
            old_doc.close()
        if self.autosaver is not None:
            self.autosaver.discard()
        self.doc, self.editor = doc, Editor(doc)
        self.autosaver = recovery.Autosaver()
        self.scene = GraphScene(doc, self)
        self.scene.snap_to_grid = self.a_snap.isChecked()
        self.view.setScene(self.scene)
        self.scene.set_zoom_detail(self.view.zoom)
        self.undo_group.addStack(doc.undo)
        self.undo_group.setActiveStack(doc.undo)
        self.inspector.set_document(doc)
        self.training.set_document(doc)
        if self.trainer.devices:
            self.training.set_devices(self.trainer.devices)
        self.live.reset()
        self.plots.set_overlays([])
        self.plots.clear()
        self.trypanel.reset()
        self._refresh_runs()
        self.help.show_type(None)
        self.scene.selectionChanged.connect(self._selection_changed)
        self.scene.message.connect(self.show_message)
        self.scene.wireDroppedOnEmpty.connect(lambda port, pos: self._open_quick(pos, port))
        doc.modifiedChanged.connect(self._update_title)
        doc.pathChanged.connect(self._update_title)
        doc.settingsChanged.connect(self._update_title)  # the project's name
        doc.settingsChanged.connect(lambda: self.code.update_from(
            doc.graph, doc.analysis, doc.project.data.standardize))  # standardised inputs
        doc.analysed.connect(self._analysed)
        self._analysed(doc.analysis)
        self._update_title()
        QTimer.singleShot(0, self.view.fit_to_view)
        if old_scene is not None:
            old_scene.deleteLater()

    def _update_title(self, *_):
        self.setWindowTitle(f"{self.doc.title}[*] — LayerLoom")
        self.setWindowModified(self.doc.is_modified())

    def _analysed(self, analysis) -> None:
        self.summary.update_from(self.doc.graph, analysis)
        self.code.update_from(self.doc.graph, analysis, self.doc.project.data.standardize)
        n_err = len(analysis.errors)
        if n_err:
            self.status.setText(f"{n_err} problem{'s' if n_err > 1 else ''}: {analysis.errors[0]}")
        elif not self.status.text().startswith("Refused"):
            self.status.setText("")

    def _zoom_changed(self, z: float) -> None:
        self.zoom_label.setText(f"{z * 100:.0f}%")
        if self.scene is not None:
            self.scene.set_zoom_detail(z)

    def show_message(self, text: str) -> None:
        self.status.setText(text)

    def _selection_changed(self) -> None:
        nodes = self.scene.selected_nodes()
        node = nodes[0] if len(nodes) == 1 else None
        self.inspector.show_node(node)
        if node:
            self.help.show_type(self.doc.graph.node_type(node))

    # File operations ----------------------------------------------------------------------------
    def new(self) -> None:
        if self.maybe_save():
            self.set_document(Document(Project()))

    def new_from_template(self) -> None:
        from .gallery import TemplateGallery
        if not self.maybe_save():
            return
        dlg = TemplateGallery(self)
        if dlg.exec() and dlg.chosen():
            self.open_template(dlg.chosen().path)

    def _layout_if_unplaced(self, doc: Document) -> None:
        """A graph without positions (all nodes at one spot, e.g. written by a script) gets
        the layered auto-layout, wrapped to the view's shape. Positions are only where
        things are drawn, so this does not mark the document modified."""
        g = doc.graph
        if len(g) < 2 or len({g.pos(n) for n in g.nodes()}) > 1:
            return
        vp = self.view.viewport().rect()
        wrap = wrap_for_aspect(g, vp.width() / max(vp.height(), 1))
        for n, xy in layered_positions(g, wrap=wrap).items():
            g.move_node(n, xy)

    def open_template(self, path) -> None:
        """A template opens as an untitled copy, ready to edit and train."""
        try:
            project = load(path)
        except ProjectError as e:
            self.show_error("Cannot open template", str(e))
            return
        self.set_document(Document(project))

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        path = self.ask_open_path()
        if path:
            self.open_path(path, ask=False)

    def open_path(self, path, ask: bool = True) -> bool:
        if ask and not self.maybe_save():
            return False
        from templates import FOLDER
        if Path(path).resolve().parent == FOLDER:  # shipped templates are not edited in place
            self.open_template(path)
            self.show_message(f"{Path(path).name} is a template: it opened as an untitled copy.")
            return self.doc.path is None
        try:
            doc = Document.open(path)
        except ProjectError as e:
            self.show_error("Cannot open project", str(e))
            return False
        self._layout_if_unplaced(doc)
        self.set_document(doc)
        self._add_recent(Path(path))
        return True

    def save(self) -> bool:
        if self.doc.path is None:
            return self.save_as()
        return self._save_to(self.doc.path)

    def save_as(self) -> bool:
        path = self.ask_save_path()
        return self._save_to(Path(path)) if path else False

    def _save_to(self, path: Path) -> bool:
        if path.suffix == "":
            path = path.with_suffix(".json")
        unsaved_runs = self.runs_root() if self.doc.path is None else None
        try:
            self.doc.save(path)
        except OSError as e:
            self.show_error("Cannot save", f"{path}: {e.strerror or e}. The previous file, if "
                                           "any, is unchanged.")
            return False
        self.autosaver.discard()
        self._add_recent(path)
        self.show_message(f"Saved {path}")
        if unsaved_runs is not None:
            self._pending_runs = unsaved_runs
            if not self.trainer.busy:  # else when the run ends: it is writing there
                self._move_unsaved_runs()
        return True

    def _move_unsaved_runs(self) -> None:
        """Runs made before the first save (under LAYERLOOM_HOME) move beside the project."""
        import shutil
        old, self._pending_runs = getattr(self, "_pending_runs", None), None
        if old is None or not old.is_dir():
            return
        new = self.runs_root()
        moved, failed = 0, []
        for run in sorted(p for p in old.iterdir() if p.is_dir()):
            dest, k = new / run.name, 1
            while dest.exists():
                k += 1
                dest = new / f"{run.name}-{k}"
            try:
                new.mkdir(parents=True, exist_ok=True)
                shutil.move(str(run), str(dest))
                moved += 1
            except OSError as e:
                failed.append(f"{run}: {e.strerror or e}")
        try:
            old.rmdir()
        except OSError:
            pass
        self._refresh_runs()
        if failed:
            self.show_error("Runs not moved", "These runs stay where they were:\n"
                            + "\n".join(failed))
        elif moved:
            self.show_message(f"Saved {self.doc.path}; its {moved} earlier "
                              f"run{'s' if moved > 1 else ''} moved to {new}")

    def maybe_save(self) -> bool:
        """True if the current document may be replaced (saved, discarded or unmodified)."""
        if self.trainer.busy and self.doc is not None:
            self.show_message("Training is running: stop it before opening another project.")
            return False
        if self.doc is None or not self.doc.is_modified():
            return True
        answer = self.ask_save_changes()
        if answer == "save":
            return self.save()
        return answer == "discard"

    def closeEvent(self, event):
        if getattr(self, "_emergency", False):  # SIGTERM: no questions, recovery file kept
            event.accept()
            return
        if not self.maybe_save():
            event.ignore()
            return
        if self.trainer.busy:
            self.trainer.stop()  # the run keeps its last checkpoint
        self.trainer.close()
        s = settings()
        s.setValue("geometry", self.saveGeometry())
        s.setValue("state", self.saveState())
        if self.autosaver:
            self.autosaver.discard()
        self.autosave_timer.stop()
        event.accept()

    def _restore_layout(self) -> None:
        s = settings()
        geom, state = s.value("geometry"), s.value("state")
        if isinstance(geom, QByteArray):
            self.restoreGeometry(geom)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    # Recent files -------------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        v = settings().value("recent", [])
        return [v] if isinstance(v, str) else list(v or [])

    def _add_recent(self, path: Path) -> None:
        p = str(Path(path).resolve())
        files = [p] + [f for f in self.recent_files() if f != p]
        settings().setValue("recent", files[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for f in files:
            a = self.recent_menu.addAction(Path(f).name)
            a.setStatusTip(f)
            a.triggered.connect(lambda _=False, f=f: self.open_path(f))
        self.recent_menu.setEnabled(bool(files))

    # Autosave and recovery ----------------------------------------------------------------------
    def autosave(self) -> None:
        if self.doc is not None and self.doc.is_modified():
            try:
                self.autosaver.save(self.doc.project, self.doc.path)
            except OSError as e:
                self.show_message(f"Autosave failed: {e.strerror or e}")

    def offer_recovery(self) -> bool:
        """At start-up: offer to restore work a crashed session left. True if restored."""
        found = recovery.pending()
        if not found:
            return False
        latest = max(found, key=lambda r: r.saved_at)
        if not self.ask_restore(latest):
            for r in found:
                r.file.unlink(missing_ok=True)
            return False
        doc = Document(latest.project, latest.original)
        doc.mark_modified()
        self.set_document(doc)
        for r in found:
            r.file.unlink(missing_ok=True)
        self.autosave()
        self.show_message("Restored unsaved work from the last session.")
        return True

    # Editing ------------------------------------------------------------------------------------
    def _add_node(self, type_id: str, pos: QPointF) -> str | None:
        if catalogue.resolve_type(type_id) is None:
            return None
        from .canvas.items import NODE_W, snap
        x, y = snap(pos.x() - NODE_W / 2, self.scene.snap_to_grid), snap(pos.y() - 20, self.scene.snap_to_grid)
        node = self.editor.add_node(type_id, (x, y))
        self._select([node])
        return node

    def _open_quick(self, pos: QPointF, port) -> None:
        types = None
        if port is not None:
            want, kind = ("inputs" if not port.is_input else "outputs"), port.port.kind
            types = [t for t, s in catalogue.SPECS.items()
                     if any(p.kind == kind for p in getattr(s, want))]
        self._quick_target = (pos, port)
        self.quick.open_at(self.view.mapToGlobal(self.view.mapFromScene(pos)), types)

    def _quick_chosen(self, type_id: str) -> None:
        pos, port = self._quick_target or (self.view.center_scene_pos(), None)
        self._quick_target = None
        if port is None:
            self._add_node(type_id, pos)
            return
        from .canvas.items import NODE_W, snap
        on = self.scene.snap_to_grid
        xy = (snap(pos.x() - (NODE_W if port.is_input else 0), on), snap(pos.y() - 20, on))
        try:
            node = self.editor.add_wired(type_id, xy, port.node_item.node_id, port.name,
                                         port.is_input)
        except EditRefused as e:
            self.show_message(f"Not added: {e}")
            return
        self._select([node])

    def _select(self, nodes) -> None:
        self.scene.clearSelection()
        for n in nodes:
            item = self.scene.nodes.get(n)
            if item:
                item.setSelected(True)

    def delete_selection(self) -> None:
        self.editor.remove(self.scene.selected_nodes(), self.scene.selected_edges())

    def select_all(self) -> None:
        for item in self.scene.nodes.values():
            item.setSelected(True)

    def copy(self) -> bool:
        nodes = self.scene.selected_nodes()
        if not nodes:
            return False
        # Plain text (JSON with its own "format" marker): a QMimeData made in Python and
        # handed to the clipboard would be destroyed by Qt after Python has shut down.
        QGuiApplication.clipboard().setText(json.dumps(self.editor.copy_records(nodes)))
        return True

    def cut(self) -> None:
        if self.copy():
            self.delete_selection()

    def paste(self) -> None:
        raw = QGuiApplication.clipboard().text()
        try:
            records = json.loads(raw)
            if not isinstance(records, dict) or records.get("format") != "layerloom.nodes":
                raise ValueError
        except ValueError:
            self.show_message("Nothing to paste: the clipboard holds no LayerLoom nodes")
            return
        try:
            self._select(self.editor.paste(records))
        except EditRefused as e:
            self.show_message(f"Paste refused: {e}")

    def duplicate(self) -> None:
        nodes = self.scene.selected_nodes()
        if nodes:
            self._select(self.editor.paste(self.editor.copy_records(nodes)))

    def arrange(self) -> None:
        g = self.doc.graph
        vp = self.view.viewport().rect()
        pos = layered_positions(g, wrap=wrap_for_aspect(g, vp.width() / max(vp.height(), 1)))
        self.editor.move({n: (g.pos(n), xy) for n, xy in pos.items()}, "Arrange the graph")
        self.view.fit_to_view()

    def project_properties(self) -> None:
        """The project's name and description, in the inspector (nothing selected)."""
        self.scene.clearSelection()  # the inspector shows the project with nothing selected
        self._show_dock("inspector")
        if self.inspector.node is not None:
            self.inspector.show_node(None)
        QTimer.singleShot(0, self.inspector.focus_project_name)  # once the field is shown

    def _toggle_snap(self, on: bool) -> None:
        if self.scene:
            self.scene.snap_to_grid = on

    def emergency_close(self) -> None:
        """SIGTERM / SIGINT: keep unsaved work in the recovery file, stop training, quit
        without questions (the next start offers the work back)."""
        self._emergency = True
        if self.doc is not None and self.doc.is_modified():
            try:
                self.autosaver.save(self.doc.project, self.doc.path)
            except OSError:
                pass
            self.autosaver = None  # keep the file for the next start
        self.trainer.stop()
        self.trainer.close()
        self.autosave_timer.stop()
        from PySide6.QtWidgets import QApplication
        QApplication.instance().quit()

    def show_guide(self) -> None:
        from .guide import GUIDE
        self._text_dialog("Getting started", GUIDE)

    def show_shortcuts(self) -> None:
        from .guide import shortcuts_html
        self._text_dialog("Keyboard shortcuts", shortcuts_html(self))

    def _text_dialog(self, title: str, html: str) -> None:
        from .guide import TextDialog
        dlg = TextDialog(title, html, self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        self.help_window = dlg  # not modal: read it while working
        dlg.show()

    def about(self) -> None:
        QMessageBox.about(self, "About LayerLoom",
                          "LayerLoom: build deep-learning models by wiring layers; the graph "
                          "compiles to real PyTorch.")

    # Training -----------------------------------------------------------------------------------
    def runs_root(self) -> Path:
        from runtime.runs import runs_root
        home = os.environ.get("LAYERLOOM_HOME") or str(recovery.recovery_dir().parent)
        return runs_root(self.doc.path, home, self.doc.unsaved_key)

    def start_training(self, resume=None, max_steps: int | None = None) -> bool:
        """Train the graph on the canvas (unsaved edits included) in the training process."""
        if self.trainer.busy:
            return False
        analysis = self.doc.reanalyse()
        if not analysis.ok:
            msg = f"The graph has problems; fix them first: {analysis.errors[0]}"
            self.training.show_error(msg)
            self.show_message(msg)
            return False
        from runtime.runs import new_run_folder
        if resume is not None:
            run_dir, resume_from = resume.folder, resume.folder / "checkpoints" / "last"
        else:
            run_dir, resume_from = new_run_folder(self.runs_root()), None
        self.live.reset()
        self.plots.clear()
        self.scene.clear_heat()
        self.doc.lock("Training is running: stop it to change the graph (edits would not reach "
                      "the running model). Moving nodes is fine.")
        self.trainer.start(self.doc.project.to_json(), run_dir,
                           self.doc.path.parent if self.doc.path else None,
                           resume_from=resume_from, max_steps=max_steps)
        self._show_dock("training")
        self._show_dock("plots")
        if self.docks["plots"].height() < 320:  # room for five plots and their legends
            self.resizeDocks([self.docks["plots"]], [min(360, self.height() // 2)], Qt.Vertical)
        self._plot_timer.start()
        return True

    def stop_training(self) -> None:
        self.trainer.stop()

    def toggle_pause(self) -> None:
        if self.trainer.state == "paused":
            self.trainer.resume()
        else:
            self.trainer.pause()

    def _training_state(self, state: str) -> None:
        self.training.set_state(state)
        self.a_run.setEnabled(state == "idle")
        self.a_stop.setEnabled(state != "idle")
        if state == "idle":
            self.doc.unlock()
            self._refresh_live()
            self._plot_timer.stop()
            if getattr(self, "_pending_runs", None) is not None:
                self._move_unsaved_runs()  # saved for the first time while this run went on
            self._refresh_runs()
            if self.docks["try"].isVisible() and not self.docks["try"].visibleRegion().isEmpty():
                self.try_model()  # the run just made: tried at once where the panel is open

    def _training_event(self, ev) -> None:
        self.live.feed(ev)
        k = ev.kind
        if k == "gradstats":
            now = time.perf_counter()
            if now >= self._heat_due:  # node colours at ~4 Hz
                self._heat_due = now + 0.25
                self.scene.set_heat(ev.norms)
        elif k == "failed":
            self.training.show_error(ev.message.split("\nTraceback")[0])
            self.show_message(f"Training failed: {ev.message.splitlines()[0]}")
            if ev.node and ev.node in self.scene.nodes:
                self._select([ev.node])
        elif k == "samples" and self.live.samples_version == 1:
            # a generator's first samples: the live view beside the plots
            dock = self.docks["samples"]
            if not dock.isVisible():  # beside the bottom tabs (a split of one tab would tab it)
                self.addDockWidget(Qt.BottomDockWidgetArea, dock, Qt.Horizontal)
                dock.show()
                self.resizeDocks([dock], [max(360, self.width() // 4)], Qt.Horizontal)
        elif k == "preparing":  # before the first step: selective search, once per data
            self.show_message(f"Preparing the data: {ev.what}, {ev.done:,} of {ev.total:,} "
                              "images (computed once, then cached)")
            self.training.status.setText(f"Preparing {ev.what}: {ev.done:,} / {ev.total:,}")
        elif k == "finished":
            m = ", ".join(f"{n} {v:.4g}" for n, v in ev.metrics.items())
            self.show_message(f"Training finished: {ev.step} steps in {ev.seconds:.1f} s; {m}")
        elif k == "stopped":
            self.show_message(f"Training stopped at step {ev.step}; the last checkpoint is kept.")

    def _refresh_live(self) -> None:
        self.plots.refresh()
        self.samples.refresh()
        now = time.perf_counter()
        if self.live.total_steps and (now >= self._progress_due
                                      or not self.trainer.busy):
            self._progress_due = now + 0.25  # the progress line at 4 Hz: text is not free
            self.training.show_progress(self.live)

    def _refresh_runs(self) -> None:
        from runtime.runs import list_runs
        runs = list_runs(self.runs_root()) if self.doc else []
        self.training.set_runs(runs)
        self.trypanel.set_source(self.doc.project if self.doc else None,
                                 self.doc.path.parent if self.doc and self.doc.path else None,
                                 runs)

    def try_model(self) -> None:
        """Train > Try the Model: the newest run's weights on its validation samples."""
        self._refresh_runs()
        self._show_dock("try")
        if self.trypanel.weights.count():
            self.trypanel.weights.setCurrentIndex(0)
            self.trypanel.load()

    def _compare_runs(self, runs) -> None:
        from runtime.runs import read_csv
        self.plots.set_overlays([(r.name, read_csv(r.folder / "steps.csv"),
                                  read_csv(r.folder / "epochs.csv")) for r in runs])
        self._show_dock("plots")

    def _show_dock(self, key: str) -> None:
        self.docks[key].show()
        self.docks[key].raise_()

    def export_dialog(self) -> None:
        from .export_dialog import ExportDialog
        dlg = ExportDialog(self.doc.project, self.runs_root(),
                           self.doc.path.parent if self.doc.path else Path.cwd(), self,
                           project_path=self.doc.path)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        self.export_window = dlg  # window-modal, without a nested event loop
        dlg.open()

    # Prompts (replaced in tests) ------------------------------------------------------------
    def ask_save_changes(self) -> str:
        box = QMessageBox(QMessageBox.Warning, "Unsaved changes",
                          f"Save the changes to {self.doc.title}?",
                          QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, self)
        box.setDefaultButton(QMessageBox.Save)
        r = box.exec()
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(r, "cancel")

    def ask_open_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", "LayerLoom projects (*.json)")
        return path or None

    def ask_save_path(self) -> str | None:
        start = str(self.doc.path or Path.cwd() / f"{self.doc.project.name.lower().replace(' ', '_')}.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save project", start, "LayerLoom projects (*.json)")
        return path or None

    def ask_restore(self, found) -> bool:
        where = f" ({found.original})" if found.original else ""
        r = QMessageBox.question(self, "Restore unsaved work?",
                                 f"LayerLoom did not close properly. Restore the unsaved work on "
                                 f"'{found.project.name}'{where}?")
        return r == QMessageBox.Yes

    def show_error(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)
        self.show_message(message)

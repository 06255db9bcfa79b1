"""The main window: canvas in the centre; docks for the palette, inspector, help, summary and
generated code; menus and toolbar with the standard shortcuts; remembered layout. Mixins of
the one MainWindow hold the rest: file handling (open, save, recent files, autosave and
recovery) in app/window_files.py, editing the graph in app/window_edit.py, training (runs,
live plots, trying and exporting the model) in app/window_training.py. See ARCHITECTURE.md
("How a value flows").

Prompts go through small `ask_*` methods (app/window_files.py) so that tests (and scripted
demos) can answer them.
"""
from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QUndoGroup
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QMessageBox, QUndoView,
                               QVBoxLayout, QWidget)

from graph.project import Project

from . import recovery
from .canvas.crumbs import Breadcrumbs
from .canvas.scene import GraphScene
from .canvas.view import GraphView
from .document import Document, Editor
from .inspector import Inspector
from .palette import Palette
from .panels import CodeView, HelpView, SummaryView
from .live_boundary import LiveBoundaryView
from .plotdata import LiveData
from .plots import LivePlots
from .samples_view import SamplesView
from .quickadd import QuickAdd
from .training import TrainingController
from .training_panel import TrainingPanel
from .try_panel import TryPanel
from .warmup import warmup
from .window_edit import GraphEditing
from .window_files import FileHandling, settings
from .widgets import Refusals
from .window_training import TrainingHandling

AUTOSAVE_MS = 60_000


class MainWindow(FileHandling, GraphEditing, TrainingHandling, QMainWindow):
    def __init__(self, autosave_ms: int = AUTOSAVE_MS):
        super().__init__()
        self.setObjectName("LayerLoom")
        self.resize(1500, 920)
        self.doc: Document | None = None
        self.scene: GraphScene | None = None
        self.editor: Editor | None = None
        self.autosaver: recovery.Autosaver | None = None
        self._init_files()
        self.undo_group = QUndoGroup(self)

        self.view = GraphView()
        self.crumbs = Breadcrumbs()  # where the canvas is: the project or a block opened
        centre = QWidget()
        box = QVBoxLayout(centre)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        box.addWidget(self.crumbs)
        box.addWidget(self.view, 1)
        self.setCentralWidget(centre)
        self.crumbs.goTo.connect(lambda depth: self.doc.go_to(depth))
        self.block_refusals = Refusals(self.crumbs.error, self.show_message,
                                       lambda: self.crumbs.setVisible(True))
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
        self.live_boundary = LiveBoundaryView(self.live)
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
                ("boundary", "Decision boundary", self.live_boundary, Qt.BottomDockWidgetArea),
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
        # The plots need more room than the tables: their tab, however raised, makes the
        # bottom area tall enough for five plots and their legends
        self.docks["plots"].visibilityChanged.connect(self._plots_room)
        self.docks["summary"].raise_()
        self.docks["help"].raise_()
        self.docks["history"].hide()
        self.docks["samples"].hide()  # shown when a generator's samples arrive
        self.docks["boundary"].hide()  # shown when a 2-D classifier's boundary arrives
        self.resizeDocks([self.docks["palette"]], [230], Qt.Horizontal)
        self.resizeDocks([self.docks["inspector"]], [340], Qt.Horizontal)
        # The canvas gets most of the window; a run's start makes the bottom area tall
        # enough for the live plots (start_training)
        self.resizeDocks([self.docks["summary"]], [230], Qt.Vertical)

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
        self.a_import = self._act("&Import PyTorch Model…", self.import_dialog, None, f,
                                  "A model from a .py file as a project (the file runs)")
        self.a_import_onnx = self._act("Import O&NNX…", lambda: self.import_dialog(True),
                                       None, f, "A model from an .onnx file as a project")
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
        self.a_group = self._act("&Group into Block", self.group_selection, "Ctrl+G", e,
                                 "The selected nodes become one block (its ports: the wires "
                                 "that cross the selection)")
        self.a_ungroup = self._act("U&ngroup", self.ungroup_selection, "Ctrl+Shift+G", e,
                                   "Unpack the selected block into plain nodes")
        self.a_up = QAction("&Leave Block", self)  # Esc, while the canvas has the focus
        self.a_up.setShortcut(QKeySequence(Qt.Key_Escape))
        self.a_up.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        self.a_up.triggered.connect(lambda _=False: self.leave_block())
        self.view.addAction(self.a_up)
        e.addAction(self.a_up)
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
        self.a_pause.setEnabled(False)  # nothing runs yet
        self.a_stop.setEnabled(False)
        t.addSeparator()
        self.a_try = self._act("&Try the Model", self.try_model, "Ctrl+T", t,
                               "A validation sample and the trained model's prediction; text "
                               "from a prompt for a character model")
        self.a_evaluate = self._act("&Evaluate…", self.show_evaluate, None, t, "A run's "
                                    "confusion matrix, per-class figures, ROC/PR, calibration")
        self.a_sweep = self._act("S&weep…", self.show_sweep, None, t, "Search the values marked "
                                 "'search' with Optuna: trials of ordinary runs, side by side")
        t.addSeparator()
        for key in ("training", "plots", "try", "samples", "boundary"):
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
        self.palette.tree.currentItemChanged.connect(self._palette_help)
        self.view.nodeDropped.connect(self._add_node)
        self.view.quickAddRequested.connect(lambda pos: self._open_quick(pos, None))
        self.view.zoomChanged.connect(self._zoom_changed)
        # After a pan, whether the whole graph is in view (the status bar's Ctrl+0 hint):
        # once the panning pauses, since it measures every item (2.5 ms at 1,000 nodes)
        # (bound methods, not lambdas: Qt drops them with the window, so a scroll bar moving
        # while the window is torn down calls nothing)
        self._pan_settled = QTimer(self, singleShot=True, interval=150)
        self._pan_settled.timeout.connect(self._view_moved)
        for bar in (self.view.horizontalScrollBar(), self.view.verticalScrollBar()):
            bar.valueChanged.connect(self._panned)
        self.inspector.message.connect(self.show_message)
        self.trypanel.message.connect(self.show_message)
        self.training.message.connect(self.show_message)
        self.training.runRequested.connect(self.start_training)
        self.training.stopRequested.connect(self.stop_training)
        self.training.pauseRequested.connect(self.trainer.pause)
        self.training.resumeRequested.connect(self.trainer.resume)
        self.training.resumeRunRequested.connect(lambda run: self.start_training(resume=run))
        self.training.compareRequested.connect(self._compare_runs)
        self.training.runs_box.evaluateRequested.connect(self.show_evaluate)
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
        self.scene.preview_hook = self.trypanel.inside.wire_preview  # hovered wires' values
        self.view.setScene(self.scene)
        self.scene.set_zoom_detail(self.view.zoom)
        self.undo_group.addStack(doc.undo)
        self.undo_group.setActiveStack(doc.undo)
        self.inspector.set_document(doc)
        self.palette.set_graph(doc.graph)  # the project's blocks, in its Blocks section
        self.training.set_document(doc)
        if self.trainer.devices:
            self.training.set_devices(self.trainer.devices)
        self.live.reset()
        self._hide_samples()
        self.plots.set_overlays([])
        self.plots.clear()
        self.trypanel.reset()
        self._refresh_runs()
        self.help.show_type(None)
        self.scene.selectionChanged.connect(self._selection_changed)
        self.scene.message.connect(self.show_message)
        self.scene.wireDroppedOnEmpty.connect(lambda port, pos: self._open_quick(pos, port))
        self.scene.openRequested.connect(self.open_block)
        self.crumbs.set_crumbs(doc.crumbs())
        doc.shownChanged.connect(self._shown_changed)
        doc.modifiedChanged.connect(self._update_title)
        doc.pathChanged.connect(self._update_title)
        doc.settingsChanged.connect(self._update_title)  # the project's name
        doc.settingsChanged.connect(lambda: self.code.update_from(
            doc.graph, doc.analysis, doc.project.data.standardize))  # standardised inputs
        doc.analysed.connect(self._analysed)
        self._analysed(doc.analysis)
        self._update_title()
        QTimer.singleShot(0, lambda: self.view.fit_to_view(floor=self.view.FIRST_VIEW))
        if old_scene is not None:
            old_scene.deleteLater()

    def _palette_help(self, item, _previous=None) -> None:
        """A palette entry selected: its help (a block's: the project's or the library's
        definition, as an instance of it would show it)."""
        from .palette import BLOCK_ROLE, TYPE_ROLE
        if item is None:
            return
        if item.data(0, TYPE_ROLE):
            self.help.show_type(item.data(0, TYPE_ROLE))
        elif item.data(0, BLOCK_ROLE):
            from .panels import help_html
            spec = self.palette.block_spec(item.data(0, BLOCK_ROLE))
            if spec is not None:
                self.help.shown = None
                self.help.setHtml(help_html(spec))

    def _update_title(self, *_):
        where = " > ".join(self.doc.crumbs()[1:])
        self.setWindowTitle(f"{self.doc.title}[*]{' — ' + where if where else ''} — LayerLoom")
        self.setWindowModified(self.doc.is_modified())

    def _analysed(self, analysis) -> None:
        if self.doc.frames:  # a block renamed or retitled: the breadcrumb says so
            self.crumbs.set_crumbs(self.doc.crumbs())
            self._update_title()
        self.summary.update_from(self.doc.graph, analysis)
        self.code.update_from(self.doc.graph, analysis, self.doc.project.data.standardize)
        n_err = len(analysis.errors)
        if n_err:
            self.status.setText(f"{n_err} problem{'s' if n_err > 1 else ''}: {analysis.errors[0]}")
        elif not self.status.text().startswith("Refused"):
            self.status.setText("")

    def _panned(self, _value: int) -> None:
        self._pan_settled.start()

    def _view_moved(self) -> None:
        self._zoom_changed(self.view.zoom)

    def _zoom_changed(self, z: float) -> None:
        part = not self.view.shows_everything()
        self.zoom_label.setText(f"{z * 100:.0f}%" + (" · Ctrl+0 shows the whole graph"
                                                     if part else ""))
        if self.scene is not None:
            self.scene.set_zoom_detail(z)

    def import_dialog(self, onnx: bool = False) -> None:
        from .import_dialog import open_import
        open_import(self, onnx)

    def show_message(self, text: str) -> None:
        self.status.setText(text)

    def _selection_changed(self) -> None:
        nodes = self.scene.selected_nodes()
        node = nodes[0] if len(nodes) == 1 else None
        self.inspector.show_node(node)
        if node:  # its note, then its type's help (a block's: its definition's)
            self.help.show_node(self.doc.shown_graph, node)

    # Closing and the remembered layout ----------------------------------------------------------
    def closeEvent(self, event):
        if self._emergency:  # SIGTERM: no questions, recovery file kept
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
        if self.scene is not None:  # a closed window's Try panel answers no wire
            self.scene.preview_hook = None
        event.accept()

    def _restore_layout(self) -> None:
        s = settings()
        geom, state = s.value("geometry"), s.value("state")
        if isinstance(geom, QByteArray):
            self.restoreGeometry(geom)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    # The project, the view, help ----------------------------------------------------------------
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

    def _show_dock(self, key: str) -> None:
        self.docks[key].show()
        self.docks[key].raise_()

    def about(self) -> None:
        QMessageBox.about(self, "About LayerLoom",
                          "LayerLoom: build deep-learning models by wiring layers; the graph "
                          "compiles to real PyTorch.")


"""The main window's training (ARCHITECTURE.md, "How a value flows", steps 3 to 7): Run,
Pause and Stop, the trainer's events to the live plots, the samples, the live decision
boundary and the node colours,
the project's runs (resumed, compared, tried), and File > Export.

`TrainingHandling` is a mixin of MainWindow (app/mainwindow.py), which provides doc, scene, trainer,
live, plots, samples, live_boundary, training, trypanel, docks, the a_run / a_stop / a_pause actions,
_plot_timer, _heat_due, _progress_due, _pending_runs (app/window_files.py), show_message,
_show_dock and _select.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import Qt

from . import recovery

DEAD_ROW_ROOM = 420  # the live plots' height, at least, once they hold the dead-units row


class TrainingHandling:
    """Training for MainWindow: see the module's docstring."""

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
        if resume is not None:  # the plots go on from the steps before the stop
            from runtime.runs import read_csv
            self.live.resume_from(*(read_csv(run_dir / f) for f in
                                    ("steps.csv", "epochs.csv", "grads.csv")))
        self.plots.clear()
        self.scene.clear_heat()
        self._hide_samples()
        self.doc.lock("Training is running: stop it to change the graph (edits would not reach "
                      "the running model). Moving nodes is fine.")
        self.trainer.start(self.doc.project.to_json(), run_dir,
                           self.doc.path.parent if self.doc.path else None,
                           resume_from=resume_from, max_steps=max_steps)
        self._show_dock("training")
        self._show_dock("plots")
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
        self.a_pause.setEnabled(state in ("running", "paused"))
        if state == "idle":
            self.doc.unlock()
            self._refresh_live()
            self._plot_timer.stop()
            if self._pending_runs is not None:
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
                from graph.flatten import shown_values
                path = [inst for _, inst in self.doc.frames]  # a block's inner layers: the
                self.scene.set_heat(shown_values(ev.norms, path))  # block, where shown
        elif k == "failed":
            self.training.show_error(ev.message.split("\nTraceback")[0])
            self.show_message(f"Training failed: {ev.message.splitlines()[0]}")
            from graph.flatten import shown_node
            node = shown_node(ev.node, [i for _, i in self.doc.frames]) if ev.node else None
            if node and node in self.scene.nodes:  # a block's inner layer: the block
                self._select([node])
        elif k == "samples" and self.live.samples_version == 1:
            self._beside_plots("samples")  # a generator's first samples: the live view
        elif k == "boundaryframe" and self.live.boundary_version == 1:
            self._beside_plots("boundary")  # a 2-D classifier's first boundary
        elif k == "activations" and self.live.activations_version == 1:
            self._plots_room(True, DEAD_ROW_ROOM)  # the plots gain a row of dead units
        elif k == "preparing":  # before the first step: selective search, once per data
            note = getattr(ev, "note", "")  # the cache was damaged: computed again
            self.show_message(f"Preparing the data: {ev.what}, {ev.done:,} of {ev.total:,} "
                              "images (computed once, then cached)"
                              + (f". Note: {note}" if note else ""))
            self.training.status.setText(f"Preparing {ev.what}: {ev.done:,} / {ev.total:,}")
        elif k == "started":  # the data is ready: no more "Preparing" in the status bar
            self.training.show_result({})
            procs = self.trainer.processes  # several: the figures are process 0's
            where = (f"{procs} processes, process 0 on {ev.device_name}" if procs > 1
                     else ev.device_name)
            self.show_message(f"Training on {where}: {ev.total_steps:,} steps"
                              + "".join(f". {n}" for n in ev.notes))
        elif k == "finished":
            m = ", ".join(f"{n} {v:.4g}" for n, v in ev.metrics.items())
            r = self.live.resumed_at
            steps = (f"{ev.step:,} steps" if r is None else
                     f"{ev.step:,} steps, resumed at step {r:,}: the last {ev.step - r:,}")
            self.show_message(f"Training finished: {steps} in {ev.seconds:.1f} s; {m}")
            self.training.show_result(ev.metrics)
        elif k == "stopped":
            self.show_message(f"Training stopped at step {ev.step}; the last checkpoint is kept.")

    def _plots_room(self, visible: bool, least: int = 320) -> None:
        dock = self.docks["plots"]
        if visible and not dock.isFloating() and dock.height() < least:
            self.resizeDocks([dock], [min(least + 40, self.height() // 2)], Qt.Vertical)

    def _beside_plots(self, key: str) -> None:
        """A live view's dock beside the bottom tabs (a split of one tab would tab it)."""
        dock = self.docks[key]
        if not dock.isVisible():
            self.addDockWidget(Qt.BottomDockWidgetArea, dock, Qt.Horizontal)
            dock.show()
            self.resizeDocks([dock], [max(360, self.width() // 4)], Qt.Horizontal)

    def _hide_samples(self) -> None:
        """The live views (a generator's samples, a 2-D classifier's boundary) belong to
        their run: away when another starts."""
        for key, view in (("samples", self.samples), ("boundary", self.live_boundary)):
            self.docks[key].hide()
            view.clear()

    def _refresh_live(self) -> None:
        self.plots.refresh()
        self.samples.refresh()
        self.live_boundary.refresh()
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

    def try_sample(self, weights: str, index: int) -> None:
        """Validation sample `index` tried with `weights` (Train > Evaluate's images)."""
        self._refresh_runs()
        self._show_dock("try")
        self.trypanel.open_sample(weights, index)

    def show_sweep(self) -> None:
        """Train > Sweep…: the document's sweep window (app/sweep_view.py)."""
        from .sweep_view import SweepView
        view = getattr(self, "sweep_window", None)
        if view is None or view.doc is not self.doc:
            if view is not None:
                view.close()
            view = self.sweep_window = SweepView(self.doc, self.show_message, self)
            view.addActions([self.a_undo, self.a_redo])  # Ctrl+Z there too
            view.resize(1280, 780)
        view.show()
        view.raise_()
        view.activateWindow()

    def show_evaluate(self, run=None) -> None:
        """Train > Evaluate (or a run's Evaluate button): app/evaluate_view.py, judging `run`
        (a RunInfo; else the newest with weights) on its validation split."""
        from runtime.runs import list_runs
        from .evaluate_view import EvaluateView
        view = getattr(self, "evaluate_window", None)
        if view is None:
            view = self.evaluate_window = EvaluateView(self.show_message, self,
                                                       open_sample=self.try_sample)
            view.resize(1200, 760)
        view.set_source(self.doc.project, self.doc.path.parent if self.doc.path else None,
                        list_runs(self.runs_root()), self.doc.title)
        if run is not None:
            view.select_run(run)
        view.show()
        view.raise_()
        view.activateWindow()
        view.evaluate()

    def _compare_runs(self, runs) -> None:
        from runtime.runs import read_csv
        self.plots.set_overlays([(r.name, read_csv(r.folder / "steps.csv"),
                                  read_csv(r.folder / "epochs.csv")) for r in runs])
        self._show_dock("plots")

    def export_dialog(self) -> None:
        from .export_dialog import ExportDialog
        dlg = ExportDialog(self.doc.project, self.runs_root(),
                           self.doc.path.parent if self.doc.path else Path.cwd(), self,
                           project_path=self.doc.path)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        self.export_window = dlg  # window-modal, without a nested event loop
        dlg.open()

"""The main window's file handling (ARCHITECTURE.md, "Layers": the project file is
graph/project.py's): New, New from Template, Open, Save, Save As, recent files, the
unsaved-changes prompt, autosave and the offer to restore a crashed session's work, and the
moving of a project's runs when it is saved for the first time.

`FileHandling` is a mixin of MainWindow (app/mainwindow.py), which calls `_init_files()`
first in its __init__ and provides doc, trainer, view, recent_menu, autosaver,
autosave_timer, set_document, runs_root, _refresh_runs and show_message. Prompts go
through small `ask_*` methods so that tests (and scripted demos) can answer them.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QMessageBox

from graph.layout import layered_positions, wrap_for_aspect
from graph.project import Project, ProjectError, load

from . import recovery
from .document import Document

MAX_RECENT = 8


def settings() -> QSettings:
    base = os.environ.get("LAYERLOOM_HOME")
    if base:
        return QSettings(str(Path(base) / "settings.ini"), QSettings.IniFormat)
    return QSettings("LayerLoom", "LayerLoom")


class FileHandling:
    """File handling for MainWindow: see the module's docstring."""

    def _init_files(self) -> None:
        # The runs folder of a project saved for the first time while a run wrote there:
        # moved beside the project when that run ends (_training_state)
        self._pending_runs: Path | None = None
        self._emergency = False  # SIGTERM / SIGINT: close without questions

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
        old, self._pending_runs = self._pending_runs, None
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

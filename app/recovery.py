"""Autosave and crash recovery. While a document has unsaved changes, it is written every
minute to a recovery file (atomically). A clean save or a close removes the file; a crash
leaves it, and the next start offers to restore it. Files of a running LayerLoom (its pid
alive) are never offered."""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from graph.fileio import atomic_write_text
from graph.project import Project, ProjectError, from_dict

FORMAT = "layerloom.recovery"
_OURS: set[Path] = set()  # recovery files this process writes (its windows are alive)


def recovery_dir() -> Path:
    base = os.environ.get("LAYERLOOM_HOME")
    if base:
        folder = Path(base) / "recovery"
    else:
        from PySide6.QtCore import QStandardPaths
        folder = Path(QStandardPaths.writableLocation(QStandardPaths.AppDataLocation)) / "recovery"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Recovered:
    file: Path
    original: Path | None
    saved_at: float
    project: Project


class Autosaver:
    """One per open document: `save(project, original)` writes its recovery file."""

    def __init__(self):
        self.file = recovery_dir() / f"{uuid.uuid4().hex}.json"
        _OURS.add(self.file)

    def save(self, project: Project, original: Path | None) -> None:
        data = {"format": FORMAT, "pid": os.getpid(), "saved_at": time.time(),
                "original": str(original) if original else None, "project": project.to_dict()}
        atomic_write_text(self.file, json.dumps(data, ensure_ascii=False))

    def discard(self) -> None:
        _OURS.discard(self.file)
        try:
            self.file.unlink()
        except FileNotFoundError:
            pass


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return False  # not one of ours (checked before): an earlier session, pid reused
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pending() -> list[Recovered]:
    """Recovery files left by LayerLoom sessions that ended without cleaning up."""
    out = []
    for f in sorted(recovery_dir().glob("*.json")):
        if f in _OURS:
            continue  # an open window of this process
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or _alive(data.get("pid")):
                continue
            project = from_dict(data["project"], str(f))
        except (OSError, ValueError, KeyError, ProjectError):
            continue  # unreadable leftovers are skipped, not fatal
        original = Path(data["original"]) if data.get("original") else None
        out.append(Recovered(f, original, float(data.get("saved_at", 0)), project))
    return out

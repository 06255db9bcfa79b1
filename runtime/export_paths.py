"""Where an export may be written: the paths a format writes, the rules that refuse a
destination before any work (never the project file or the weights being exported, never a
folder for a file, nothing existing without `force`), and a temporary name beside the
destination, renamed onto it once written, so a failed export leaves nothing half-written.
The format writers are in runtime/export.py."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from graph.fileio import new_file_mode


class ExportError(Exception):
    """The export cannot be written; the message says why, for the user."""


class DestinationError(ExportError):
    """The output path is refused before any work: no export was written."""


class ExistsError(DestinationError):
    """The export would replace existing files or folders (`paths`) and `force` is off."""

    def __init__(self, paths: list[Path]):
        self.paths = list(paths)
        names = ", ".join(str(p) for p in self.paths)
        super().__init__(f"{names}: already exist{'s' if len(self.paths) == 1 else ''} "
                         "(pass --force to replace)")


def output_paths(fmt: str, out: str | os.PathLike) -> list[Path]:
    """What an export to `out` writes: the folder (bundle), the file, or for `python` the
    .py file and its weights beside it."""
    out = Path(out)
    if fmt == "python":
        py = out if out.suffix == ".py" else out.with_suffix(".py")
        return [py, py.with_suffix(".safetensors")]
    return [out]


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _inside(child: Path, folder: Path) -> bool:
    return folder.resolve() in child.resolve().parents


def check_destination(fmt: str, out: str | os.PathLike, *, force: bool = False,
                      project_path: str | os.PathLike | None = None,
                      weights_path: str | os.PathLike | None = None) -> list[Path]:
    """The one rule both front ends share: never write over the project file or the weights
    being exported (nor, for a bundle, a folder holding them); a file export never replaces a
    folder; anything else that exists is replaced only with `force`. Returns the paths the
    export will write; raises DestinationError (ExistsError for what `force` would allow)."""
    targets = output_paths(fmt, out)
    protected = [(Path(p), what) for p, what in ((project_path, "the project file"),
                                                 (weights_path, "the weights file"))
                 if p is not None]
    for t in targets:
        if not t.parent.exists():
            raise DestinationError(f"{t.parent}: no such folder")
        if not t.parent.is_dir():
            raise DestinationError(f"{t.parent}: not a folder")
        for p, what in protected:
            if _same(t, p):
                raise DestinationError(f"{t}: is {what} being exported; choose another name")
            if fmt == "bundle" and _inside(p, t):
                raise DestinationError(f"{t}: holds {what} being exported ({p}); choose "
                                       "another folder")
        if fmt != "bundle" and t.is_dir():
            raise DestinationError(f"{t}: is a folder; a {fmt} export writes a file there")
    existing = [t for t in targets if os.path.lexists(t)]
    if existing and not force:
        raise ExistsError(existing)
    return targets


@contextlib.contextmanager
def temp_beside(out: Path):
    """A temporary file's path in `out`'s folder, for a writer that wants a path (torch's ONNX
    exporters); the writer renames it onto `out` (rename_onto) once it is complete, and
    whatever is left there when the block ends is removed. The name follows graph.fileio's
    scheme (with the pid), so a killed export's is known stale."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp",
                               dir=out.parent)
    os.close(fd)
    try:
        yield tmp
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def rename_onto(tmp: str, out: Path) -> None:
    """Put the finished temporary file `tmp` in place as `out`, with a new file's mode."""
    os.chmod(tmp, new_file_mode(out))  # mkstemp makes it 0600
    os.replace(tmp, out)

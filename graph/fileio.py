"""Atomic file writes: the old file survives a crash or a full disk mid-save.

Temp names carry the writer's pid, so that what a killed writer left behind can be told from
what a live one is still writing:
  .NAME.<pid>.<random>.tmp   a file being written (atomic_write_bytes)
  .NAME.<pid>.<random>       a folder being filled, or the old folder being removed
  .NAME.old                  the old folder moved aside (only where the swap cannot be atomic)
`clean_stale` removes the temps of NAME whose writer is gone: its pid is not running, or the pid
was reused (the running process started after the temp was last written); temps of the older
scheme (`.NAME.<random>[.tmp]`, no pid) are stale when older than this process. Every write
calls it first, and so do the readers at start (project load, checkpoint load, run listing).
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

_IMPORTED = time.time()
_RANDOM = r"[a-z0-9_]{8}"  # tempfile's names: 8 of "abcdefghijklmnopqrstuvwxyz0123456789_"


# Is a writer still running? --------------------------------------------------------------------

def _linux_proc(pid: int) -> tuple[str, float] | None:
    """(state, start time as a time.time() value) of a Linux process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        fields = data[data.rindex(b")") + 2:].split()
        ticks = int(fields[19])  # field 22, starttime, in clock ticks after boot
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return fields[0].decode(), time.time() - age
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except (OverflowError, ValueError, OSError):
        return False
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes
    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.GetLastError() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259
    finally:
        kernel32.CloseHandle(handle)


def _started(pid: int) -> float | None:
    """When a running process started (None when this cannot be known)."""
    if sys.platform.startswith("linux"):
        proc = _linux_proc(pid)
        if proc is not None:
            return proc[1]
    return None


_self_started: dict[int, float] = {}


def self_started() -> float:
    """When this process started. Without /proc, this module's import bounds it from above
    (less 50 ms for the file clock, which lags time.time() by up to a tick). Kept per pid: a
    forked child is a process of its own."""
    pid = os.getpid()
    if pid not in _self_started:
        start = _started(pid)
        _self_started[pid] = min(start, _IMPORTED) if start is not None else _IMPORTED - 0.05
    return _self_started[pid]


def _writer_gone(pid: int, mtime: float) -> bool:
    if pid == os.getpid():
        return mtime < self_started()  # the same pid, an earlier process
    if not _pid_alive(pid):
        return True
    if sys.platform.startswith("linux"):
        proc = _linux_proc(pid)
        if proc is not None:
            state, start = proc
            return state in ("Z", "X") or mtime < start  # dead, or the pid was reused
    return False


# Which names are temps of `path` ---------------------------------------------------------------

def _patterns(name: str) -> tuple[re.Pattern, re.Pattern]:
    n = re.escape(name)
    return (re.compile(rf"\.{n}\.(\d+)\.{_RANDOM}(?:\.tmp)?"),  # this scheme: with the pid
            re.compile(rf"\.{n}\.{_RANDOM}(?:\.tmp)?"))  # the scheme before: no pid


def _temps(path: Path) -> list[tuple[Path, bool]]:
    """The temps of `path` in its folder, each with whether it is stale."""
    folder = path.parent if str(path.parent) else Path(".")
    new, old = _patterns(path.name)
    prefix = f".{path.name}."
    out = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return out
    for e in entries:
        if not e.name.startswith(prefix):
            continue
        m = new.fullmatch(e.name)
        legacy = m is None and old.fullmatch(e.name) is not None
        if m is None and not legacy:
            continue
        try:
            mtime = e.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        stale = mtime < self_started() if legacy else _writer_gone(int(m.group(1)), mtime)
        out.append((Path(e.path), stale))
    return out


def _remove(p: Path) -> None:
    """Best effort: a temp that cannot be removed now is tried again at the next write."""
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink()
    except OSError:
        pass


def clean_stale(path: str | os.PathLike) -> list[Path]:
    """Remove the temps that writers of `path`, gone now, left in its folder (only names of
    the temp schemes above, built on `path`'s own name). Returns what was removed."""
    removed = []
    for p, stale in _temps(Path(path)):
        if stale:
            _remove(p)
            removed.append(p)
    return removed


def _old(path: Path) -> Path:
    return path.with_name(f".{path.name}.old")


def recover_folder(path: str | os.PathLike) -> list[Path]:
    """Before reading or writing a folder that atomic_folder writes: put back a `.NAME.old`
    that a writer killed between its two renames left in place of a missing `path`, or remove
    one left beside `path`, then clean_stale. A live writer's `.old` is left alone."""
    path = Path(path)
    busy = any(not stale for _, stale in _temps(path))  # a live writer is at work on it
    old = _old(path)
    removed = []
    if not busy and (old.exists() or old.is_symlink()):
        if path.exists() or path.is_symlink():
            _remove(old)
            removed.append(old)
        else:
            try:
                os.replace(old, path)
            except OSError:
                pass  # best effort, as for the temps; tried again at the next start or write
    return removed + clean_stale(path)


# Writing ---------------------------------------------------------------------------------------

def _fsync_dir(folder: Path) -> None:
    try:  # make a rename durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def new_file_mode(path: str | os.PathLike, base: int = 0o666) -> int:
    """The mode a plain open() (or mkdir, with base 0o777) would give `path` (base & ~umask),
    or the mode of what it replaces. The umask is read without changing it where the OS
    tells it (os.umask() is process-wide, and exports write from threads)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        pass
    umask = None
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    if umask is None:
        umask = os.umask(0o022)
        os.umask(umask)
    return base & ~umask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to a temp file in the same folder, flush, fsync, then os.replace it over
    `path`. On any error the temp file is removed and `path` is untouched."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    clean_stale(path)
    mode = new_file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_renameat2 = None  # libc's renameat2, looked up on first use (False: there is none)


def _libc_renameat2():
    global _renameat2
    if _renameat2 is None:
        _renameat2 = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes
                fn = ctypes.CDLL(None, use_errno=True).renameat2
                fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                               ctypes.c_uint]
                fn.restype = ctypes.c_int
                _renameat2 = fn
            except (OSError, AttributeError):  # no libc, or a libc older than glibc 2.28
                pass
    return _renameat2


def exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE). False
    where this system or filesystem cannot; raises OSError for any other failure."""
    fn = _libc_renameat2()
    if not fn:
        return False
    import ctypes
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(a), None, os.fspath(b))


def _fsync_tree(folder: Path) -> None:
    for root, dirs, files in os.walk(folder):
        for name in files:
            try:
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            except OSError:
                pass
            finally:
                os.close(fd)
        _fsync_dir(Path(root))


@contextmanager
def atomic_folder(path: str | os.PathLike):
    """Fill a folder that replaces `path` only when the block ends without error: yields a
    temp folder beside it, then swaps the two in one step (renameat2 RENAME_EXCHANGE) and
    removes the old one. Where the swap cannot be atomic, the old `path` is moved to
    `.NAME.old` and the new one renamed in; a kill between the two renames is undone by
    recover_folder. On error the temp folder goes and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", dir=path.parent))
    old = None
    try:
        os.chmod(tmp, new_file_mode(path, 0o777))  # mkdtemp makes it 0700
        yield tmp
        _fsync_tree(tmp)
        if not (path.exists() or path.is_symlink()):
            os.replace(tmp, path)
        elif exchange(tmp, path):
            _remove(tmp)  # it holds the old folder now: a kill here leaves a stale temp
        else:
            old = _old(path)
            _remove(old)
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
            old = None
        _fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not (path.exists() or path.is_symlink()) and old.exists():
            os.replace(old, path)  # failed between the two renames: put the old one back
        raise

"""Opening data files that may be hostile (issue 23): only regular files are read. A named
pipe in place of an image would block the reader forever (open() waits for a writer), a
device such as /dev/zero never ends; both are refused without blocking. Standard library only.
"""
from __future__ import annotations

import os
import stat
from typing import BinaryIO

_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISDIR, "a folder"),
          (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


class NotRegularFile(OSError):
    """The path exists but is not a regular file; str() is 'not a regular file (a named pipe)'."""

    def __init__(self, path, kind: str):
        super().__init__(f"not a regular file ({kind})")
        self.filename = str(path)
        self.kind = kind

    def __str__(self) -> str:
        return self.args[0]


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a file")


def is_regular(path) -> bool:
    """Whether `path` (links followed) is a regular file; False when it cannot be stat'ed."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):  # ValueError: a NUL byte in the name
        return False


def not_regular(path) -> str | None:
    """'not a regular file (a named pipe)' for a path that exists (links followed) but is not
    a regular file; None for a regular file or a path that is not there."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return None if stat.S_ISREG(mode) else str(NotRegularFile(path, _kind(mode)))


def open_regular(path) -> BinaryIO:
    """`path` opened for reading in binary, if it is a regular file (links followed); raises
    NotRegularFile for a named pipe, device, socket or folder, at once (the file is opened
    non-blocking and checked with fstat, so a file swapped after a check is caught too), and
    OSError as open() does otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, _kind(mode))
        return os.fdopen(fd, "rb")  # O_NONBLOCK does nothing to a regular file's reads
    except BaseException:
        os.close(fd)
        raise

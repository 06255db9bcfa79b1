"""The error a training run reports to the user, raised by the Trainer, its recipes and the
modules they share (devices, diagnosis). It names the node to look at where there is one.
The other kinds a run reports live with what raises them: CompileError (runtime/compile.py),
DataError (runtime/data), CheckpointError (runtime/checkpoint.py)."""
from __future__ import annotations


class TrainingError(Exception):
    def __init__(self, message: str, node: str | None = None):
        super().__init__(message)
        self.node = node


def first_line(e: BaseException | str) -> str:
    """The first line of an error's message, '' when it has none (`str(e).splitlines()[0]`
    raised IndexError on an exception without a message, hiding the error being reported)."""
    lines = str(e).splitlines()
    return lines[0] if lines else ""

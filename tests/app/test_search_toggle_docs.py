"""The search toggles follow the window's document: switching documents (the same one given
again, or an old one whose undo stack is gone) disconnects only what was connected, with no
PySide 'Failed to disconnect' warning and no stale connection to an old document."""
import warnings

import shiboken6

from app.document import Document
from app.search_toggle import SearchToggles
from graph.project import Project


class Counting(SearchToggles):
    def __init__(self):
        super().__init__(refusals=None)
        self.refreshed = 0

    def refresh(self) -> None:
        self.refreshed += 1


def test_switching_documents_disconnects_only_what_was_connected(qapp):
    t = Counting()
    a, b = Document(Project()), Document(Project())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PySide's "Failed to disconnect" is a RuntimeWarning
        t.set_document(a)
        t.set_document(a)  # the same document again: still one connection
        t.set_document(b)
        t.refreshed = 0
        a.undo.indexChanged.emit(1)  # the old document no longer refreshes the toggles
        assert t.refreshed == 0
        b.undo.indexChanged.emit(1)
        assert t.refreshed == 1
        shiboken6.delete(b.undo)  # its undo stack gone (the document closed under it)
        t.set_document(None)
        t.set_document(a)
        t.refreshed = 0
        a.undo.indexChanged.emit(2)
        assert t.refreshed == 1

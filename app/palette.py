"""The node palette: every catalogue type by category, filtered as you type. Drag an entry
onto the canvas, or double-click it to place it at the view's centre.

Its Blocks section (issue 25, item 5) also lists block definitions: the project's own, the
shipped library's and the user's library's (graph/library.py). A library block dropped on the
canvas is copied into the project with an instance, as one undo step (app/block_commands.py);
a right-click on a project block offers "Save to library…". A library file that cannot be
used is listed, greyed, with its reason."""
from __future__ import annotations

from PySide6.QtCore import QFileSystemWatcher, QMimeData, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QDrag, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QLineEdit, QMenu, QMessageBox, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from graph import catalogue, library
from graph.blocks import CATEGORY as BLOCKS, COLOR as BLOCK_COLOR, type_of

from .canvas.view import NODE_MIME

TYPE_ROLE = Qt.UserRole + 1
BLOCK_ROLE = Qt.UserRole + 2  # a block entry's payload: "block:<name>" or "library:<key>"
TEXT_ROLE = Qt.UserRole + 3  # what the filter matches a block entry on
PROBLEM_ROLE = Qt.UserRole + 4  # why a library file cannot be used
GROUP_ROLE = Qt.UserRole + 5  # a group of block entries ("project", "shipped", "user")
GROUPS = (("project", "In this project"), ("shipped", "Shipped library"),
          ("user", "Your library"))


RECENT = "Recently used"
RECENT_KEY = "palette/recent"
MAX_RECENT = 8
CATEGORY_ROLE = Qt.UserRole + 6  # a top-level item's category (its text carries a count)
OPEN_CATEGORIES = ("Input / Output", "Core")  # unfolded at first


def swatch(color: str, size: int = 12) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(Qt.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.Antialiasing)
    p.setBrush(QColor(color))
    p.setPen(Qt.NoPen)
    p.drawRoundedRect(1, 1, size - 2, size - 2, 3, 3)
    p.end()
    return QIcon(pm)


def matches(spec, text: str) -> bool:
    text = text.strip().lower()
    if not text:
        return True
    hay = f"{spec.title} {spec.type} {spec.category} {spec.doc.summary}".lower()
    return all(word in hay for word in text.split())


def node_mime(type_id: str) -> QMimeData:
    """What a palette drag carries: the node type id."""
    mime = QMimeData()
    mime.setData(NODE_MIME, type_id.encode())
    mime.setText(type_id)
    return mime


class _Tree(QTreeWidget):
    def startDrag(self, actions):
        item = self.currentItem()
        type_id = item and (item.data(0, TYPE_ROLE) or item.data(0, BLOCK_ROLE))
        if not type_id:
            return
        mime = node_mime(type_id)
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.setPixmap(item.icon(0).pixmap(16, 16))
        drag.exec(Qt.CopyAction)


class Palette(QWidget):
    addRequested = Signal(str)  # type id, placed at the view's centre

    def __init__(self, parent=None):
        super().__init__(parent)
        self.filter = QLineEdit(placeholderText="Filter nodes…")
        self.filter.setClearButtonEnabled(True)
        self.tree = _Tree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setRootIsDecorated(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree)
        self.items: dict[str, QTreeWidgetItem] = {}
        self.blocks_item: QTreeWidgetItem | None = None
        # The types this user placed last, at the top (kept in the app's settings)
        self.recent_item = self._category_item(RECENT)
        self.recent: list[str] = []
        self.categories: dict[str, QTreeWidgetItem] = {}
        for cat, specs in catalogue.by_category().items():
            parent_item = self._category_item(cat)
            self.categories[cat] = parent_item
            if cat == BLOCKS:
                self.blocks_item = parent_item
            else:
                parent_item.setText(0, f"{cat} ({len(specs)})")
            for s in specs:
                self.items[s.type] = self._type_item(parent_item, s)
        self._init_blocks()
        # Some 200 types: the categories start folded, but for the everyday ones (a click
        # unfolds one; typing in the filter unfolds every match)
        self._unfolded = {RECENT, *OPEN_CATEGORIES, BLOCKS}
        self._fold()
        self._load_recent()
        self.filter.textChanged.connect(self.apply_filter)
        self.tree.itemDoubleClicked.connect(self._double_clicked)

    def _category_item(self, title: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(self.tree, [title])
        item.setData(0, CATEGORY_ROLE, title)
        item.setFlags(Qt.ItemIsEnabled)
        f = item.font(0)
        f.setBold(True)
        item.setFont(0, f)
        return item

    @staticmethod
    def _type_item(parent: QTreeWidgetItem, s) -> QTreeWidgetItem:
        it = QTreeWidgetItem(parent, [s.title])
        it.setData(0, TYPE_ROLE, s.type)
        it.setIcon(0, swatch(s.color))
        it.setToolTip(0, f"{s.title} ({s.type}): {s.doc.summary}")
        it.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled)
        return it

    def _fold(self) -> None:
        """Unfold the categories the user left open (or the everyday ones), fold the rest."""
        for i in range(self.tree.topLevelItemCount()):
            cat = self.tree.topLevelItem(i)
            cat.setExpanded(cat.data(0, CATEGORY_ROLE) in self._unfolded)
            for j in range(cat.childCount()):  # the Blocks section's groups
                cat.child(j).setExpanded(True)

    # Recently used ----------------------------------------------------------------------
    def note_used(self, type_id: str) -> None:
        """A node of `type_id` was placed: it goes to the top of "Recently used"."""
        if catalogue.resolve_type(type_id) is None:
            return
        type_id = catalogue.resolve_type(type_id)
        self.recent = [type_id, *(t for t in self.recent if t != type_id)][:MAX_RECENT]
        self._show_recent()
        try:
            from .window_files import settings
            settings().setValue(RECENT_KEY, ",".join(self.recent))
        except Exception:  # noqa: BLE001 (settings that cannot be written: kept for now)
            pass

    def _load_recent(self) -> None:
        try:
            from .window_files import settings
            saved = str(settings().value(RECENT_KEY, "") or "")
        except Exception:  # noqa: BLE001
            saved = ""
        self.recent = [catalogue.resolve_type(t) for t in saved.split(",")
                       if t and catalogue.resolve_type(t)][:MAX_RECENT]
        self._show_recent()

    def _show_recent(self) -> None:
        self.recent_item.takeChildren()
        for t in self.recent:
            self._type_item(self.recent_item, catalogue.get(t))
        self.apply_filter(getattr(self, "_filter", ""))

    def apply_filter(self, text: str) -> None:
        def show(it) -> bool:
            if it.data(0, TYPE_ROLE):
                return matches(catalogue.get(it.data(0, TYPE_ROLE)), text)
            words = (it.data(0, TEXT_ROLE) or "").lower()
            return all(w in words for w in text.strip().lower().split())

        def walk(parent) -> int:
            visible = 0
            for j in range(parent.childCount()):
                it = parent.child(j)
                if it.data(0, GROUP_ROLE):
                    n = walk(it)  # a group: shown when something in it is
                    it.setHidden(n == 0 and bool(text.strip()))
                else:
                    n = show(it)
                    it.setHidden(not n)
                visible += n
            return visible

        if text.strip() and not getattr(self, "_filter", "").strip():
            # remember what the user had unfolded, to fold back to it when the filter clears
            self._unfolded = {self.tree.topLevelItem(i).data(0, CATEGORY_ROLE)
                              for i in range(self.tree.topLevelItemCount())
                              if self.tree.topLevelItem(i).isExpanded()}
        self._filter = text
        for i in range(self.tree.topLevelItemCount()):
            cat = self.tree.topLevelItem(i)
            keep = cat is self.blocks_item and not text.strip()
            cat.setHidden(walk(cat) == 0 and not keep)
        if text.strip():
            self.tree.expandAll()
        elif hasattr(self, "_unfolded"):
            self._fold()

    def recent_types(self) -> list[str]:
        return [self.recent_item.child(i).data(0, TYPE_ROLE)
                for i in range(self.recent_item.childCount())]

    def visible_types(self) -> list[str]:
        return [t for t, it in self.items.items() if not it.isHidden() and not it.parent().isHidden()]

    def _double_clicked(self, item, column) -> None:
        t = item.data(0, TYPE_ROLE) or item.data(0, BLOCK_ROLE)
        if t:
            self.addRequested.emit(t)


    # Blocks: the project's definitions and the library -------------------------------------
    def _init_blocks(self) -> None:
        if self.blocks_item is None:
            self.blocks_item = QTreeWidgetItem(self.tree, [BLOCKS])
            self.blocks_item.setFlags(Qt.ItemIsEnabled)
        self._filter = ""
        self.graph = None
        self.groups: dict[str, QTreeWidgetItem] = {}
        self._rows: dict[str, list] = {}
        for key, title in GROUPS:
            it = QTreeWidgetItem(self.blocks_item, [title])
            it.setFlags(Qt.ItemIsEnabled)
            it.setData(0, GROUP_ROLE, key)
            f = it.font(0)
            f.setItalic(True)
            it.setFont(0, f)
            self.groups[key] = it
        self.tree.setContextMenuPolicy(Qt.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        # The project's definitions change with each edit (coalesced to one refresh); the
        # window hands over its document's graph (set_graph) on New and Open.
        self._project_timer = QTimer(self, singleShot=True, interval=0)
        self._project_timer.timeout.connect(self.refresh_project)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(lambda _: self.refresh_library())
        self.refresh_library()

    def set_graph(self, graph) -> None:
        """List the definitions of `graph`'s project (None: none)."""
        if self.graph is not None:
            self.graph.blocks.unsubscribe(self._blocks_changed)
        self.graph = graph
        if graph is not None:
            graph.blocks.subscribe(self._blocks_changed)
        self.refresh_project()

    def block_spec(self, payload: str):
        """The NodeSpec an instance of a Blocks entry would have ("block:<name>" of the
        project, "library:<key>"), for its help; None if it cannot be made."""
        from graph.blocks import block_name
        from graph.model import Graph
        try:
            if payload.startswith("library:"):
                entry = library.find(payload[len("library:"):])
                if not entry.ok:
                    return None
                scratch = Graph()  # a copy of the entry's definitions, outside any project
                return scratch.blocks.spec(library.insert(scratch, entry))
            name = block_name(payload)
            if self.graph is not None and name in self.graph.blocks:
                return self.graph.blocks.spec(name)
        except Exception:  # noqa: BLE001 (a library file changed under us: no help)
            return None
        return None

    def _blocks_changed(self, _ev) -> None:
        self._project_timer.start()

    def _fill(self, key: str, rows: list[tuple[str, str, str, str, str]]) -> None:
        """Rows of (text, payload, tooltip, filter text, problem): rebuilt if they changed."""
        group = self.groups[key]
        if self._rows.get(key) == rows:
            return
        self._rows[key] = rows
        group.takeChildren()
        for text, payload, tip, words, problem in rows:
            it = QTreeWidgetItem(group, [text])
            it.setData(0, TEXT_ROLE, words)
            it.setToolTip(0, tip)
            it.setStatusTip(0, tip)
            if problem:
                it.setData(0, PROBLEM_ROLE, problem)
                it.setFlags(Qt.ItemIsEnabled)
                it.setForeground(0, QBrush(QColor("#999999")))
                it.setIcon(0, swatch("#bbbbbb"))
            else:
                it.setData(0, BLOCK_ROLE, payload)
                it.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled)
                it.setIcon(0, swatch(BLOCK_COLOR))
        empty = {"project": "(none yet: group nodes with Ctrl+G)",
                 "user": "(none yet: right-click a project block to save it)"}.get(key)
        if not rows and empty:
            it = QTreeWidgetItem(group, [empty])
            it.setFlags(Qt.NoItemFlags)
            it.setData(0, TEXT_ROLE, "")
        self.apply_filter(self._filter)

    def refresh_project(self) -> None:
        rows = []
        if self.graph is not None:
            for name in self.graph.blocks:
                d = self.graph.blocks[name]
                summary = d.doc or "A block of this project."
                rows.append((d.title, type_of(name), f"{d.title} ({name}): {summary}\n"
                             "Right-click to save it to your library.",
                             f"{d.title} {name} {d.doc}", ""))
        self._fill("project", rows)

    def refresh_library(self) -> None:
        """Read the shipped and the user's library files again."""
        folder = library.user_folder()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if str(folder) not in self._watcher.directories():
                self._watcher.addPath(str(folder))
        except OSError:
            pass
        for key, found in (("shipped", library.shipped()), ("user", library.user_entries())):
            rows = []
            for e in found:
                if e.ok:
                    rows.append((e.title, f"library:{e.key}", f"{e.title}: {e.doc}",
                                 f"{e.title} {e.name} {e.doc}", ""))
                else:
                    rows.append((f"{e.path.name} (unusable)", "", f"{e.path}: cannot be used: "
                                 f"{e.problem}", f"{e.path.name} {e.problem}", e.problem))
            self._fill(key, rows)

    def block_items(self, key: str) -> list[QTreeWidgetItem]:
        """The entries listed in group `key` ("project", "shipped", "user")."""
        group = self.groups[key]
        return [group.child(i) for i in range(group.childCount())
                if group.child(i).flags() != Qt.NoItemFlags]

    def _context_menu(self, point) -> None:
        item = self.tree.itemAt(point)
        payload = item.data(0, BLOCK_ROLE) if item else None
        menu = QMenu(self)
        if payload and payload.startswith("block:"):
            name = payload[len("block:"):]
            menu.addAction("Save to library…", lambda: self.save_to_library(name))
        menu.addAction("Reload the library", self.refresh_library)
        menu.exec(self.tree.viewport().mapToGlobal(point))

    def save_to_library(self, name: str) -> bool:
        """Save the project's block `name` to the user's library; asks before replacing a
        block of that name there, and says why when it cannot."""
        if self.graph is None:
            return False
        try:
            path = library.save(self.graph, name)
        except library.LibraryError as e:
            if "already has a block named" not in str(e) or not self.ask_replace(name):
                if "already has a block named" not in str(e):
                    self.show_failure(f"Could not save '{name}' to your library: {e}.")
                return False
            try:
                path = library.save(self.graph, name, replace=True)
            except library.LibraryError as e2:
                self.show_failure(f"Could not save '{name}' to your library: {e2}.")
                return False
        self.refresh_library()
        say = getattr(self.window(), "show_message", None)
        if say:
            say(f"Saved the block '{name}' to your library ({path})")
        return True

    def ask_replace(self, name: str) -> bool:
        return QMessageBox.question(
            self, "Save to library", f"Your library already has a block named '{name}'. "
            "Replace it?") == QMessageBox.Yes

    def show_failure(self, text: str) -> None:
        QMessageBox.warning(self, "Save to library", text)

"""The palette with the catalogue grown to torch.nn (issue 26): folded categories with their
counts, a filter that unfolds every match and folds back to what the user had open, and the
recently used types at the top, kept across windows."""
from PySide6.QtCore import QPointF

from app.palette import CATEGORY_ROLE, RECENT, Palette
from graph import catalogue


def _top(palette) -> dict:
    t = palette.tree
    return {t.topLevelItem(i).data(0, CATEGORY_ROLE): t.topLevelItem(i)
            for i in range(t.topLevelItemCount())}


def test_categories_start_folded_with_counts_and_the_filter_unfolds_matches(win):
    top = _top(win.palette)
    act = top["Activation"]
    n = len(catalogue.by_category()["Activation"])
    assert act.text(0) == f"Activation ({n})" and act.childCount() == n
    assert top["Core"].isExpanded() and top["Input / Output"].isExpanded()
    assert not act.isExpanded() and not top["Loss"].isExpanded()
    win.palette.tree.expandItem(top["Loss"])  # the user opens one
    win.palette.filter.setText("relu")
    assert act.isExpanded() and not act.isHidden()
    assert "ReLU" in win.palette.visible_types()
    assert all("relu" in f"{s.title} {s.type} {s.category} {s.doc.summary}".lower()
               for s in map(catalogue.get, win.palette.visible_types()))
    win.palette.filter.setText("")  # back to what was open before the filter
    assert top["Loss"].isExpanded() and top["Core"].isExpanded() and not act.isExpanded()


def test_recently_used_types_come_first_and_are_kept(win, qtbot):
    top = _top(win.palette)
    assert top[RECENT].isHidden()  # nothing used yet
    for t in ("Linear", "ReLU", "Linear", "Dropout"):
        assert win._add_node(t, QPointF(0, 0))
    assert win.palette.recent_types() == ["Dropout", "Linear", "ReLU"]
    assert not top[RECENT].isHidden() and top[RECENT].isExpanded()
    win.palette.tree.itemDoubleClicked.emit(top[RECENT].child(2), 0)  # ReLU again, from there
    assert win.palette.recent_types()[0] == "ReLU"
    assert len(win.doc.graph.nodes()) == 5
    again = Palette()  # a new window's palette reads them back from the settings
    qtbot.addWidget(again)
    assert again.recent_types() == ["ReLU", "Dropout", "Linear"]

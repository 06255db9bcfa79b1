"""What the training panel's data form shows of a dataset before it is loaded (ARCHITECTURE.md,
"Recipes for adding things": a dataset kind): the first rows of the user's CSV, the arrays of
an .npz, an image folder's classes, and the field names to bind. Reads files; no Qt, no torch.
"""
from __future__ import annotations

import csv
from pathlib import Path

# Dataset options and fields without importing the runtime (torch): mirrored by a test.
from runtime.data import (DATASETS, DataError, csv_header_problem,  # (numpy only)
                          image_folder_summary)

# The spec does not say what kind of file a dataset reads: the CSV ones are named here.
CSV_KINDS = ("csv", "csv_series")  # datasets read from a CSV file: columns to choose from


def preview_rows(dataset: str, options: dict, base_dir: Path | None, rows: int = 8):
    """(header, rows) of the user's file, or (None, message) when it cannot be read.

    A CSV's first `rows` rows only, by hand: runtime.data.read_csv_rows (training's reader)
    reads and checks every row, too slow for a form refreshed at each edit; the header is
    checked by the same rule (csv_header_problem)."""
    path = options.get("path")
    if not path:
        return None, "Choose a file."
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    if not p.is_file():
        return None, f"{p}: no such file"
    if dataset in CSV_KINDS:
        try:
            with open(p, newline="", encoding="utf-8-sig") as f:
                r = csv.reader(f)
                out = [row for _, row in zip(range(rows + 1), r)]
        except (OSError, UnicodeDecodeError) as e:
            return None, f"{p}: cannot be read ({e})"
        if not out:
            return None, f"{p}: empty file"
        header = [h.strip() for h in out[0]]
        problem = csv_header_problem(header)  # the same rule as training's
        return (None, f"{p}: {problem}") if problem else (header, out[1:])
    try:
        import numpy as np
        with np.load(p, allow_pickle=False) as z:
            return ["array", "shape", "dtype", "first values"], [
                [k, " × ".join(map(str, z[k].shape)), str(z[k].dtype),
                 ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v)
                           for v in z[k].reshape(-1)[:4].tolist())] for k in z.files]
    except Exception as e:  # a broken file: say so, keep the panel alive
        return None, f"{p}: not a readable .npz file ({e})"


def _html(text: str) -> str:
    from html import escape
    return escape(text)


def dataset_fields(dataset: str, options: dict, base_dir: Path | None) -> list[str]:
    """The fields the dataset gives, to bind: a spec that declares none (npz) takes them
    from its file's arrays."""
    spec = DATASETS.get(dataset)
    if spec is not None and not spec.fields:
        header, rows = preview_rows(dataset, options, base_dir)
        return [r[0] for r in rows] if header else []
    return list(spec.fields) if spec else ["x", "y"]


def image_summary(options: dict, base_dir: Path | None) -> str:
    """An image folder's classes and image counts, and what each image becomes (HTML)."""
    if not options.get("path"):
        return "Choose a folder holding one subfolder of images per class."
    try:
        counts = image_folder_summary(options["path"], base_dir)
    except DataError as e:
        return f"<span style='color:#c62828'>{_html(str(e))}</span>"
    shown = ", ".join(f"{_html(c)} {n:,}" for c, n in list(counts.items())[:12])
    more = f", … ({len(counts) - 12} more)" if len(counts) > 12 else ""
    return (f"{len(counts)} classes, {sum(counts.values()):,} images: {shown}{more}. "
            f"Each image becomes {options.get('channels', 3)} × {options.get('height', 32)}"
            f" × {options.get('width', 32)} (field x), its class index field y.")


def augment_grid(samples, cell: int = 56, gap: int = 3):
    """The augmentation preview's picture (H × W × 3 uint8, numpy): one row per training
    sample, one column per way it was augmented (`samples`: ways × k × C × H × W floats in
    [0, 1]), each image scaled up by whole pixels to about `cell` pixels; grey between."""
    import numpy as np
    ways, k, ch, h, w = samples.shape
    f = max(1, cell // max(h, w))
    x = np.clip(samples, 0, 1)
    x = x[:, :, :3] if ch >= 3 else np.repeat(x[:, :, :1], 3, axis=2)
    x = (x * 255 + 0.5).astype(np.uint8).repeat(f, axis=3).repeat(f, axis=4)
    ch_, cw = h * f, w * f
    out = np.full((k * (ch_ + gap) + gap, ways * (cw + gap) + gap, 3), 96, np.uint8)
    for j in range(ways):
        for i in range(k):
            top, left = gap + i * (ch_ + gap), gap + j * (cw + gap)
            out[top:top + ch_, left:left + cw] = x[j, i].transpose(1, 2, 0)
    return np.ascontiguousarray(out)

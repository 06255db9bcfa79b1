"""Datasets (ARCHITECTURE.md, "A dataset kind"): generated from a seed, shipped inside an
installed package, or the user's own CSV / NPZ file, folder of images or COCO annotations.
Nothing is ever downloaded.

A dataset is a set of named fields (tensors with the samples along dim 0). The project's data
binding says which field feeds which Input or Target node.

The types, the registry DATASETS and load_dataset are in base.py; each family module
(generated, tabular, images, sequences, seq2seq, gan, detection) registers its kinds there
when imported, and imports the base only (digits.py, shared by three families, is base-level:
it registers nothing). They are imported here in the order the training panel lists them.
Light to import: numpy and the standard library (torch loads when a dataset is made).
"""
from __future__ import annotations

from .base import (DATASETS, DataError, DataNote, Dataset, DatasetSpec, Option,
                   csv_header_problem, format_bytes, int_in, load_dataset, num_in,
                   read_csv_rows, register, resolve_file)
from . import generated, tabular, images, sequences, seq2seq, gan, detection
from .digits import make_digits
from .generated import make_blobs, make_shapes, make_spirals, make_xor
from .images import FITS, image_folder_summary, images_options_for_shape, load_images
from .tabular import load_csv, load_npz

# The kinds whose option `path` names a file or folder (DatasetSpec.takes_path), for whoever
# rewrites that path when a project is saved elsewhere (app/cli.py).
PATH_DATASETS = tuple(name for name, spec in DATASETS.items() if spec.takes_path)

__all__ = ["DATASETS", "PATH_DATASETS", "DataError", "DataNote", "Dataset", "DatasetSpec",
           "FITS", "Option", "csv_header_problem", "format_bytes", "image_folder_summary",
           "images_options_for_shape", "int_in", "load_csv", "load_dataset", "load_images",
           "load_npz", "make_blobs", "make_digits", "make_shapes", "make_spirals", "make_xor",
           "num_in", "read_csv_rows", "register", "resolve_file",
           "detection", "gan", "generated", "images", "seq2seq", "sequences", "tabular"]

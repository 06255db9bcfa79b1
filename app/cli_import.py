"""`layerloom import`: a PyTorch model as a project, verified equal (issue 26)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

HELP = ("import a PyTorch model (path/file.py:NAME) or an ONNX file as an editable project; "
        "IMPORTING A .py FILE RUNS IT, so import only code you trust")

EPILOG = """SOURCE is path/file.py:NAME, where NAME is an nn.Module class that can be built without
arguments, or a function returning an nn.Module (--init passes keyword arguments as JSON).
The file is run to build the model: import only code you trust.
SOURCE may also be path/model.onnx: it is read, not run; its external data is read only from
its own folder; its inputs are matched to --input by name, else in order; the graph is
checked against onnxruntime.
--input NAME=SHAPE[:DTYPE[:HIGH]] gives each forward argument's example shape, batch first:
x=1,3,32,32 (float32), or tokens=2,16:int64:1000 (token ids below 1000). A size after the
batch may be named, x=1,T=7,2: the Input node keeps T (any length), the examples use 7.
It writes PROJECT.json and PROJECT.safetensors (the module's weights under the graph's names)
after checking that the graph computes what the module computes (largest difference at most
1e-4 on the example inputs and fresh random ones, in eval mode)."""


def add_parser(sub) -> None:
    import argparse
    i = sub.add_parser("import", help=HELP, description=HELP + ".", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    i.add_argument("source", metavar="SOURCE", help="path/file.py:NAME or path/model.onnx")
    i.add_argument("--input", action="append", required=True, metavar="NAME=SHAPE",
                   help="an example input, batch first: x=1,3,32,32 or ids=2,16:int64:1000")
    i.add_argument("--init", metavar="JSON", help="keyword arguments for NAME, as JSON")
    i.add_argument("--out", required=True, metavar="PROJECT.json", help="the project to write")
    i.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    i.add_argument("--force", action="store_true", help="replace PROJECT.json (and its "
                   ".safetensors) if they exist")


def cmd_import(args) -> int:
    from .cli import EXIT_OK, EXIT_UNREADABLE
    out = Path(args.out)
    weights = out.with_suffix(".safetensors")

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return EXIT_UNREADABLE

    if out.suffix != ".json":
        return fail(f"--out {out}: a project file ends in .json")
    for f in (out, weights):
        if f.exists() and not args.force:
            return fail(f"{f} exists: pass --force to replace it")
        if f.exists() and not f.is_file():
            return fail(f"{f} exists and is not a file")
    if not out.parent.is_dir():
        return fail(f"--out {out}: no folder {out.parent}")
    from runtime.importer import ImportProblem, import_source, parse_input
    try:
        inputs = [parse_input(t) for t in args.input]
        result = import_source(args.source, inputs, args.init)
        result.save(out)
    except ImportProblem as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"{e.filename or out}: {e.strerror or e}")
    print(result.report())
    print(f"wrote {out} and {weights}")
    if args.json:
        print(json.dumps(result.summary()))
    return EXIT_OK

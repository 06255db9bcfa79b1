"""Round trip (issue 26, item 6): a project's own standalone Python export imports back to
the same graph (node types, parameters and wires; ids may differ) computing the same."""
import re
from collections import Counter

import networkx as nx
import pytest
import torch

from graph.flatten import flatten
from graph.project import load
from graph.spec import NodeRole, ParamRole, is_symbol
from runtime.compile import compile_graph
from runtime.export import export
from runtime.importer import import_source, parse_input
from runtime.weights import save_weights
from templates import list_templates

PATHS = {t.key: t.path for t in list_templates()}
MODEL_ROLES = (NodeRole.LAYER, NodeRole.INPUT, NodeRole.OUTPUT, NodeRole.NOISE)


def _model_part(graph):
    """The flattened graph's nodes that compute the model: every node an Output depends on
    (the training graph's targets and losses, and a GAN's discriminator, are left out)."""
    g = flatten(graph).graph
    outputs = [n for n in g.nodes() if g.spec(n).role == NodeRole.OUTPUT]
    keep = set(outputs).union(*(nx.ancestors(g.nx, o) for o in outputs))
    keep = {n for n in keep if g.spec(n).role in MODEL_ROLES}
    return g, keep


def _same(p, params):
    """A param's value in one form: a convolution's 'same' or 'valid' padding as the number
    of pixels it adds (what the Python export writes)."""
    v = params[p.name]
    if p.kind == "padding":
        from graph.catalogue.conv import conv_padding
        return conv_padding(v, params["kernel_size"])
    return v


def _signature(graph):
    """Node types with their params (auto ones and the init scheme aside: an import writes
    what auto found, and weights come with it), and the wires by the types they join."""
    g, keep = _model_part(graph)
    nodes = Counter()
    for n in keep:
        spec = g.spec(n)
        params = spec.resolved(g.params(n))
        if spec.role in (NodeRole.INPUT, NodeRole.NOISE):  # a generator's noise comes in
            nodes[("entry", repr(spec.role_value(params, ParamRole.SAMPLE_SHAPE)))] += 1
            continue  # as an input of the exported generator
        kept = tuple(sorted((p.name, repr(_same(p, params))) for p in spec.params
                            if not p.auto and p.name != "init"))
        nodes[(spec.type, kept)] += 1
    def kind(n):
        return "entry" if g.spec(n).role in (NodeRole.INPUT, NodeRole.NOISE) else g.node_type(n)
    wires = Counter((kind(e.src), e.src_port if kind(e.src) != "entry" else "",
                     kind(e.dst), e.dst_port)
                    for e in g.edges() if e.src in keep and e.dst in keep)
    return nodes, wires


def _inputs(graph):
    specs = []
    _, keep = _model_part(graph)
    for n in graph.nodes():
        spec = graph.spec(n)
        if n in keep and spec.role in (NodeRole.INPUT, NodeRole.NOISE):  # a generator's z
            shape = ",".join(f"{d}=7" if is_symbol(d) else str(d)
                             for d in spec.role_value(graph.params(n), ParamRole.SAMPLE_SHAPE))
            dtype = spec.resolved(graph.params(n)).get("dtype", "float32")
            specs.append(parse_input(f"{n}=2{',' if shape else ''}{shape}"
                                     + (":int64:3" if dtype == "int64" else "")))
    return specs


# Not yet: the decoding templates (encoder_decoder, attention_seq2seq, transformer: a greedy
# decoder's graph needs its teacher-forcing node back) and the recurrent loops
# (gru_from_gates, lstm_from_gates: a loop block), and the detectors.
@pytest.mark.parametrize("key", ["mlp", "cnn", "resnet", "gan", "gan_digits", "perceptron",
                                 "rnn", "gru", "lstm", "char_lstm"])
def test_the_python_export_imports_back_to_the_same_graph(tmp_path, key):
    project = load(PATHS[key])
    torch.manual_seed(0)
    c = compile_graph(project.graph)
    save_weights(c.modules, tmp_path / "w.safetensors")
    files = export(project, tmp_path / "w.safetensors", "python", tmp_path / f"{key}_model.py",
                   project_path=PATHS[key])
    py = next(f for f in files if str(f).endswith(".py"))
    cls = re.search(r"    model = (\w+)\(\)", py.read_text()).group(1)
    r = import_source(f"{py}:{cls}", _inputs(project.graph))
    assert r.max_abs_diff <= 1e-5
    want_nodes, want_wires = _signature(project.graph)
    got_nodes, got_wires = _signature(r.project.graph)
    assert got_nodes == want_nodes
    assert got_wires == want_wires

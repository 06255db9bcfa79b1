"""The detection templates' parts as blocks (issue 25, item 7): the graph is built flat by
tools/make_detection_templates.py, then each part of the seed's figures (backbone, region
proposal network, RoI head, mask head) is grouped into a titled, documented block with
graph.grouping.group, its ports and the instance given meaningful names, and the top level
and each definition laid out left to right. Inputs, targets, the matching nodes, losses,
the detections and outputs stay at the top level."""
from __future__ import annotations

from dataclasses import dataclass, field

from graph.blocks import Exposed
from graph.grouping import group
from graph.layout import DX, columns
from graph.model import Graph
from graph.spec import NodeRole


GAP = 40.0  # between two nodes of a column


@dataclass
class Part:
    name: str  # the block's name and its instance's id
    title: str
    doc: str
    nodes: list[str]  # top-level nodes grouped into it
    ins: dict[str, str]  # "inner node.port" read from outside -> the block input's name
    outs: dict[str, str]  # "inner node.port" read outside -> the block output's name
    rename: dict[str, str] = field(default_factory=dict)  # inner node -> its id inside
    expose: list[str] = field(default_factory=list)  # "inner node.param": a block parameter


def make_block(g: Graph, part: Part) -> str:
    """Group `part.nodes` of `g` into block `part.name`; returns the instance's id."""
    inst = group(g, part.nodes, part.name, part.title).result
    d = g.blocks[part.name]
    b = d.graph
    ports = {}
    for p in d.inputs:
        reads = [f"{e.dst}.{e.dst_port}" for e in b.out_edges(p)]
        ports[p] = next(part.ins[r] for r in reads if r in part.ins)
    for p in d.outputs:
        e = b.in_edges(p)[0]
        ports[p] = part.outs[f"{e.src}.{e.src_port}"]
    edges = g.in_edges(inst) + g.out_edges(inst)
    for e in edges:
        g.disconnect(e)
    g.rename_node(inst, part.name)
    for old, new in [*part.rename.items(), *ports.items()]:  # inner ids first: free names
        b.rename_node(old, new)
    for e in edges:
        if e.dst == inst:
            g.connect(e.src, e.src_port, part.name, ports[e.dst_port])
        else:
            g.connect(part.name, ports[e.src_port], e.dst, e.dst_port)
    _order(b, [*dict.fromkeys(part.ins.values()), *dict.fromkeys(part.outs.values())])
    exposed = []
    for t in part.expose:  # named as the inner parameter, its default and help from there
        node, param = t.split(".")
        help_ = next(p.help for p in b.spec(node).params if p.name == param)
        exposed.append(Exposed(param, (t,), b.params(node)[param], help_))
    g.set_block_info(part.name, doc=part.doc, exposed=exposed)
    lay_out(b)
    return part.name


def _order(b: Graph, ports: list[str]) -> None:
    """Put the definition's port nodes in the order of `ports` (the instance's port order)."""
    for p in ports:
        if p not in b:
            continue
        edges, kind, params = b.in_edges(p) + b.out_edges(p), b.node_type(p), b.params(p)
        b.remove_node(p)
        b.add_node(kind, p, params)
        for e in edges:
            b.connect(e.src, e.src_port, e.dst, e.dst_port)


def lay_out(g: Graph) -> Graph:
    """Columns left to right (graph/layout.py `columns`: longest path from a source, a target
    one column before its loss); in each column the layers first, then the losses, targets
    and outputs (a definition's outputs all in the last column), each node below the one
    above by its drawn height (the canvas draws a node HEADER + SUB + a row per port tall,
    app/canvas/items.py) and a gap."""
    col = columns(g)
    end = max(col.values(), default=0)
    for n in g.nodes():  # a block's outputs line up at its right end
        if g.spec(n).role == NodeRole.BLOCK_OUTPUT:
            col[n] = end
    rank = {n: i for i, n in enumerate(g.nodes())}
    last = {NodeRole.LOSS: 1, NodeRole.TARGET: 2, NodeRole.OUTPUT: 3}
    by_col: dict[int, list[str]] = {}
    for n in sorted(g.nodes(), key=lambda n: (last.get(g.spec(n).role, 0), rank[n])):
        by_col.setdefault(col[n], []).append(n)
    for c, members in by_col.items():
        y = 0.0
        for n in members:
            g.move_node(n, (c * DX, y))
            spec = g.spec(n)
            y += 47 + 19 * max(len(spec.inputs), len(spec.outputs), 1) + GAP
    return g


def make_blocks(g: Graph, parts: list[Part]) -> Graph:
    for part in parts:
        make_block(g, part)
    return lay_out(g)


# The parts' help, in the seed notes' words where they describe them

BACKBONE_DOC = (
    "Feature extraction: pass the entire image through a CNN to extract a feature map. Here "
    "three 3 × 3 convolutions with ReLU and two 2 × 2 max poolings turn the 64 × 64 image "
    "into a 16 × 16 map of 64 channels (stride 4: one map cell per 4 × 4 pixels). The map is "
    "computed once per image and shared by every region proposal.")


def rpn_doc(sizes, ratios) -> str:
    k = len(sizes) * len(ratios)
    return (
        "Region Proposal Network (RPN): a fully convolutional network that predicts region "
        "proposals directly from the feature map. Anchor boxes: pre-defined boxes of "
        f"different sizes and aspect ratios ('Anchor generator': {k} on every map cell, sizes "
        f"{', '.join(str(s) for s in sizes)} pixels × ratios "
        f"{', '.join(str(r) for r in ratios)}). Slide a small network over the feature map "
        "('RPN head': a 3 × 3 conv, then 1 × 1 convs): for each position, predict the "
        "probability of each anchor box being foreground or background (objectness) and "
        "refine the bounding box coordinates (deltas). 'RPN proposals' keeps the best "
        "anchors, moved by their deltas, clipped to the image and de-duplicated by NMS (300 "
        "per image in training, 100 at inference). Its objectness, deltas and anchors also "
        "leave the block, for the RPN's two losses.")


def roi_head_doc(pool: str) -> str:
    how = ("RoI pooling: project the region proposals onto the feature map and pool the "
           "features from each region proposal to a fixed size (7 × 7, max pooling over a "
           "grid of rounded bins)" if pool == "RoIPool" else
           "RoIAlign: project the region proposals onto the feature map and align them to it "
           "using bilinear interpolation to preserve spatial correspondence, at a fixed size "
           "(7 × 7, no rounding)")
    return (f"{how}. Classification and bounding box regression: pass the pooled features "
            "through fully connected layers (two of 256, with ReLU) to classify each region "
            "proposal ('cls_score': a score for each of the 3 classes and the background) "
            "and refine the bounding box coordinates ('bbox_pred': 4 deltas per class).")


MASK_DOC = (
    "Mask branch: pass the aligned features through a small fully convolutional network to "
    "predict segmentation masks for each region proposal. RoIAlign cuts each RoI out of the "
    "feature map at 14 × 14 by bilinear interpolation (no rounding: a mask needs its pixels "
    "in place); two 3 × 3 convolutions and a 2 × 2 transposed convolution make a 28 × 28 "
    "mask per class ('predictor': a 1 × 1 convolution, one channel per class; the channel "
    "of the RoI's class is the one used).")

RCNN_FEATURES_DOC = (
    "Feature extraction: warp each region proposal to a fixed size (here 32 × 32 pixels, "
    "whatever its shape: 'RoI warp') and pass each warped region through a CNN to extract "
    "features: three 3 × 3 convolutions with ReLU and 2 × 2 max pooling, then a fully "
    "connected layer, a 128-D vector per region. Every region has its own CNN pass: what "
    "makes R-CNN slow.")

RCNN_CLASSIFY_DOC = (
    "Classification and bounding box regression: use SVMs to classify each region proposal "
    "('svm': one linear SVM per class, its margin a score; trained one against the rest by "
    "the multi-class hinge loss outside) and linear regression to refine the bounding box "
    "coordinates ('bbox_pred': 4 deltas per class).")

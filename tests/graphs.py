"""Graphs shared by tests and benchmarks, built through the public Graph API."""
from __future__ import annotations

from graph.model import Graph


def chain(g: Graph, first: str, specs, first_port: str = "out") -> str:
    prev, port = first, first_port
    for type_, nid, params in specs:
        g.add_node(type_, nid, params)
        g.connect(prev, port, nid, "x")
        prev, port = nid, "y"
    return prev


def classifier_head(g: Graph, last: str, loss: str = "CategoricalCrossEntropyLoss",
                    target_shape=(), target_dtype="int64", output: bool = True) -> None:
    if output:
        g.add_node("Output", "out")
        g.connect(last, "y", "out", "x")
    g.add_node("Target", "label", {"shape": list(target_shape), "dtype": target_dtype})
    g.add_node(loss, "loss")
    g.connect(last, "y", "loss", "pred")
    g.connect("label", "out", "loss", "target")


def cnn_graph(flatten_to: int | None = None) -> Graph:
    """The CNN template's graph (8 × 8 digits)."""
    g = Graph()
    g.add_node("Input", "image", {"shape": [1, 8, 8]})
    last = chain(g, "image", [
        ("Conv2d", "conv1", {"out_channels": 16, "padding": "same"}),
        ("ReLU", "relu1", {}), ("MaxPool2d", "pool1", {}),
        ("Conv2d", "conv2", {"out_channels": 32, "padding": "same"}),
        ("ReLU", "relu2", {}), ("MaxPool2d", "pool2", {}),
        ("Flatten", "flatten", {}),
        ("Linear", "fc1", {"out_features": 10, "in_features": flatten_to}),
        ("Softmax", "softmax", {})])
    classifier_head(g, last)
    return g


def mlp_graph(sizes=(784, 512, 512, 10), activation="ReLU", softmax=False) -> Graph:
    g = Graph()
    g.add_node("Input", "x", {"shape": [sizes[0]]})
    specs = []
    for i, n in enumerate(sizes[1:], start=1):
        specs.append(("Linear", f"fc{i}", {"out_features": n}))
        if i < len(sizes) - 1:
            specs.append((activation, f"act{i}", {}))
    if softmax:
        specs.append(("Softmax", "softmax", {}))
    last = chain(g, "x", specs)
    classifier_head(g, last)
    return g


def long_chain(n: int) -> Graph:
    """A valid graph of about n nodes: Linear/ReLU blocks."""
    g = Graph()
    g.add_node("Input", "x", {"shape": [32]})
    specs = []
    for i in range((n - 4) // 2):
        specs.append(("Linear", f"fc{i}", {"out_features": 32}))
        specs.append(("ReLU", f"relu{i}", {}))
    last = chain(g, "x", specs)
    classifier_head(g, last, loss="MSELoss", target_shape=(32,), target_dtype="float32")
    return g


def two_inputs_concat(g: Graph) -> None:
    """Inputs a [3] and b [5] joined by Concat 'cat': a graph with several inputs."""
    g.add_node("Input", "a", {"shape": [3]})
    g.add_node("Input", "b", {"shape": [5]})
    g.add_node("Concat", "cat")
    g.connect("a", "out", "cat", "x")
    g.connect("b", "out", "cat", "x")


def small_saved_project(folder):
    """Input [3] -> Linear(2) -> Output, saved as folder/small.json, with weights for it in
    folder/small.safetensors: (project, project file, weights file)."""
    from graph.project import Project
    from runtime.export import trained_model
    from runtime.weights import save_weights
    g = Graph()
    g.add_node("Input", "x", {"shape": [3]})
    chain(g, "x", [("Linear", "fc", {"out_features": 2})])
    g.add_node("Output", "out")
    g.connect("fc", "y", "out", "x")
    p = Project(graph=g, name="Small")
    p.save(folder / "small.json")
    save_weights(trained_model(p, None).model, folder / "small.safetensors")
    return p, folder / "small.json", folder / "small.safetensors"


def basic_block(g: Graph, name: str = "basic", downsample: bool = False) -> None:
    """A ResNet basic block definition in g's project: conv-BN-ReLU-conv-BN, plus the input
    (or, with `downsample`, its 1 × 1 strided projection), then ReLU. Exposes `channels`
    (both convs' out_channels) and `stride` (the first conv's, and the projection's)."""
    from graph.blocks import Exposed
    d = g.add_block(name, "Basic block (downsample)" if downsample else "Basic block")
    b = d.graph
    b.add_node("BlockInput", "x")
    conv = {"out_channels": 8, "kernel_size": 3, "padding": 1, "bias": False}
    b.add_node("Conv2d", "conv1", conv)
    b.add_node("BatchNorm2d", "bn1")
    b.add_node("ReLU", "relu1")
    b.add_node("Conv2d", "conv2", conv)
    b.add_node("BatchNorm2d", "bn2")
    b.add_node("Add", "add")
    b.add_node("ReLU", "relu2")
    b.add_node("BlockOutput", "y")
    b.connect("x", "out", "conv1", "x")
    for a, c in (("conv1", "bn1"), ("bn1", "relu1"), ("relu1", "conv2"), ("conv2", "bn2"),
                 ("bn2", "add"), ("add", "relu2"), ("relu2", "y")):
        b.connect(a, "y", c, "x")
    targets = ["conv1.out_channels", "conv2.out_channels"]
    strides = ["conv1.stride"]
    if downsample:
        b.add_node("Conv2d", "proj", {"out_channels": 8, "kernel_size": 1, "bias": False})
        b.add_node("BatchNorm2d", "proj_bn")
        b.connect("x", "out", "proj", "x")
        b.connect("proj", "y", "proj_bn", "x")
        b.connect("proj_bn", "y", "add", "x")
        targets.append("proj.out_channels")
        strides.append("proj.stride")
    else:
        b.connect("x", "out", "add", "x")
    g.set_block_info(name, exposed=[Exposed("channels", tuple(targets), 8),
                                    Exposed("stride", tuple(strides), 1)])

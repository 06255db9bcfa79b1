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

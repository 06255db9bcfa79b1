"""Writes the templates built from blocks (issue 25, item 7): templates/resnet.json (stages of
basic blocks on the generated shapes images). Re-run after changing them here; the files are
what ships (and what the tests train). The transformer template, rebuilt from encoder and
decoder layer blocks, is written by tools/make_seq2seq_templates.py.

    .venv/bin/python tools/make_block_templates.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.blocks import Exposed  # noqa: E402
from graph.model import Graph  # noqa: E402
from graph.project import Project  # noqa: E402
from graph.settings import DataSettings, TrainingSettings  # noqa: E402
from tools.make_recurrent_templates import placed, wire  # noqa: E402


def basic_block(g: Graph, name: str, downsample: bool) -> None:
    """The ResNet basic block: y = ReLU(BN(conv(ReLU(BN(conv(x))))) + shortcut(x)), the
    shortcut x itself or, with `downsample`, a strided 1 × 1 conv and BN (a projection to the
    new width and size). Exposes `channels` and `stride`."""
    title = "Basic block (downsample)" if downsample else "Basic block"
    doc = ("A ResNet basic block (He et al., 2016): two 3 × 3 convolutions with batch norm, "
           "y = ReLU(F(x) + x); the block learns the residual F(x) = H(x) − x, so a block that "
           "is not needed can leave x through unchanged and very deep stacks still train. "
           + ("Its shortcut is a strided 1 × 1 convolution with batch norm, since the block "
              "halves the size and changes the width." if downsample else
              "Its shortcut is the identity: input and output have the same shape."))
    b = g.add_block(name, title, doc).graph
    conv = {"out_channels": 16, "kernel_size": 3, "padding": 1, "bias": False, "init": "he"}
    b.add_node("BlockInput", "x")
    b.add_node("Conv2d", "conv1", conv)
    b.add_node("BatchNorm2d", "bn1")
    b.add_node("ReLU", "relu1")
    b.add_node("Conv2d", "conv2", conv)
    b.add_node("BatchNorm2d", "bn2")
    b.add_node("Add", "add")
    b.add_node("ReLU", "relu2")
    b.add_node("BlockOutput", "y")
    wire(b, ("x", "out"), ("conv1", "x"))
    for a, c in (("conv1", "bn1"), ("bn1", "relu1"), ("relu1", "conv2"), ("conv2", "bn2"),
                 ("bn2", "add"), ("add", "relu2"), ("relu2", "y")):
        b.connect(a, "y", c, "x")
    channels, strides = ["conv1.out_channels", "conv2.out_channels"], ["conv1.stride"]
    if downsample:
        b.add_node("Conv2d", "proj", {"out_channels": 16, "kernel_size": 1, "bias": False,
                                      "stride": 2})
        b.add_node("BatchNorm2d", "proj_bn")
        wire(b, ("x", "out"), ("proj", "x"))
        wire(b, ("proj", "y"), ("proj_bn", "x"))
        wire(b, ("proj_bn", "y"), ("add", "x"))
        channels.append("proj.out_channels")
        strides.append("proj.stride")
    else:
        b.connect("x", "out", "add", "x")
    placed(b)
    g.set_block_info(name, exposed=[
        Exposed("channels", tuple(channels), 16, "Output channels (the block's width)."),
        Exposed("stride", tuple(strides), 2 if downsample else 1,
                "Stride of the first convolution (2 halves height and width).")])


def stage(g: Graph) -> None:
    """A stage: one downsampling basic block, then `blocks` identity ones (a repeat)."""
    s = g.add_block("stage", "ResNet stage",
                    "A stage of a ResNet: a basic block that halves the size and widens the "
                    "features (a projection shortcut), then basic blocks at that width "
                    "(one instance with a repeat count).").graph
    s.add_node("BlockInput", "x")
    s.add_node("block:down", "down", {"channels": 32, "stride": 2})
    s.add_node("block:basic", "blocks", {"channels": 32, "repeat": 1})
    s.add_node("BlockOutput", "y")
    wire(s, ("x", "out"), ("down", "x"))
    wire(s, ("down", "y"), ("blocks", "x"))
    wire(s, ("blocks", "y"), ("y", "x"))
    placed(s)
    g.set_block_info("stage", exposed=[
        Exposed("channels", ("down.channels", "blocks.channels"), 32,
                "The stage's width (output channels of each of its blocks)."),
        Exposed("blocks", ("blocks.repeat",), 1,
                "Identity basic blocks after the downsampling one.")])


SHAPES = DataSettings(dataset="shapes", options={"n_samples": 3000, "size": 32, "noise": 0.8},
                      bind={"image": "x", "label": "y"})


def resnet(width: int = 16, blocks: int = 1) -> Project:
    g = Graph()
    basic_block(g, "basic", downsample=False)
    basic_block(g, "down", downsample=True)
    stage(g)
    g.add_node("Input", "image", {"shape": [3, 32, 32], "dtype": "float32"})
    g.add_node("Conv2d", "stem", {"out_channels": width, "kernel_size": 3, "padding": 1,
                                  "bias": False, "init": "he"})
    g.add_node("BatchNorm2d", "stem_bn")
    g.add_node("ReLU", "stem_relu")
    g.add_node("block:basic", "layer1", {"channels": width, "repeat": blocks})
    g.add_node("block:stage", "layer2", {"channels": 2 * width, "blocks": blocks})
    g.add_node("block:stage", "layer3", {"channels": 4 * width, "blocks": blocks})
    g.add_node("GlobalAvgPool2d", "pool")
    g.add_node("Linear", "fc", {"out_features": 3})
    g.add_node("Softmax", "softmax", {"dim": 1})
    g.add_node("Output", "probs")
    g.add_node("Target", "label", {"shape": [], "dtype": "int64"})
    g.add_node("CategoricalCrossEntropyLoss", "loss", {"from_logits": True})
    wire(g, ("image", "out"), ("stem", "x"))
    for a, c in (("stem", "stem_bn"), ("stem_bn", "stem_relu"), ("stem_relu", "layer1"),
                 ("layer1", "layer2"), ("layer2", "layer3"), ("layer3", "pool"),
                 ("pool", "fc"), ("fc", "softmax"), ("softmax", "probs")):
        g.connect(a, "y", c, "x")
    wire(g, ("fc", "y"), ("loss", "pred"))
    wire(g, ("label", "out"), ("loss", "target"))
    return Project(
        graph=placed(g), name="ResNet",
        description=(
            "A small residual network (He et al., 2016) built from blocks: a 3 × 3 stem, then "
            f"three stages of basic blocks ({width}, {2 * width} and {4 * width} channels; "
            "the second and third halve the image and open with a projection shortcut), "
            "global average pooling (one number per channel) and a Linear head, on noisy "
            "32 × 32 colour images of circles, squares and triangles. Each basic block "
            "computes y = ReLU(F(x) + x) with batch norm after every convolution: it learns "
            "the residual, so the shortcut carries the signal and its gradient through deep "
            "stacks. Double-click a stage or a block to open its definition; its `repeat` "
            "(a stage's `blocks`) stacks more of them."),
        training=TrainingSettings(optimizer="adam", lr=0.003, batch_size=64, epochs=6,
                                  val_split=0.2),
        data=SHAPES)


def main() -> None:
    out = ROOT / "templates" / "resnet.json"
    resnet().save(out)
    print("wrote", out)


if __name__ == "__main__":
    main()

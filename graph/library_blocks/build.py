"""The shipped block library, written as code: `python -m graph.library_blocks.build` writes
one JSON file per block beside this module (graph/library.py reads them). A test checks the
files equal what this gives, so an edit here is re-run, not hand-copied."""
from __future__ import annotations

from pathlib import Path

from ..blocks import Exposed
from ..layout import layered_positions
from ..model import Graph

FOLDER = Path(__file__).resolve().parent


def _chain(b: Graph, *nodes: str) -> None:
    """Wire each node's main output into the next one's main input."""
    for a, c in zip(nodes, nodes[1:]):
        src = b.spec(a).outputs[0].name
        b.connect(a, src, c, b.spec(c).inputs[0].name)


def _finish(g: Graph, name: str, exposed: list[Exposed]) -> None:
    d = g.blocks[name]
    g.set_block_info(name, exposed=exposed)
    for n, pos in layered_positions(d.graph).items():
        d.graph.move_node(n, pos)


def conv_bn_relu(g: Graph) -> str:
    d = g.add_block("conv_bn_relu", "Conv-BN-ReLU", (
        "The everyday unit of a convolutional network: a convolution finds local patterns, "
        "batch normalization keeps its outputs at a steady scale so training goes fast, and "
        "ReLU keeps what is positive. Set `channels` (how many feature maps come out), "
        "`kernel_size` (how far each output looks) and `stride` (2 halves the height and "
        "width). The padding keeps the size at stride 1."))
    b = d.graph
    b.add_node("BlockInput", "x")
    b.add_node("Conv2d", "conv", {"out_channels": 32, "kernel_size": 3, "padding": "same",
                                  "bias": False})
    b.add_node("BatchNorm2d", "bn")
    b.add_node("ReLU", "relu")
    b.add_node("BlockOutput", "y")
    _chain(b, "x", "conv", "bn", "relu", "y")
    _finish(g, d.name, [Exposed("channels", ("conv.out_channels",), 32),
                        Exposed("kernel_size", ("conv.kernel_size",), 3),
                        Exposed("stride", ("conv.stride",), 1)])
    return d.name


def resnet_basic(g: Graph, downsample: bool = False) -> str:
    name = "resnet_basic_down" if downsample else "resnet_basic"
    doc = ("The building block of ResNet-18 and ResNet-34 (He et al., 2015): two 3 × 3 "
           "convolutions, each with batch normalization, and a shortcut that adds the block's "
           "input to what they computed before the last ReLU. The convolutions only have to "
           "learn a correction to their input, which is why networks of many such blocks "
           "still train. ")
    if downsample:
        doc += ("This one opens a stage: its first convolution has a stride (2 halves the "
                "height and width) and the shortcut goes through a 1 × 1 convolution with "
                "the same stride, so the input fits the new size and channel count.")
    else:
        doc += ("The shortcut is the input itself, so the block keeps the size and the "
                "channels: `channels` must equal its input's channels.")
    d = g.add_block(name, "ResNet basic block (downsample)" if downsample
                    else "ResNet basic block", doc)
    b = d.graph
    conv = {"out_channels": 64, "kernel_size": 3, "padding": 1, "bias": False}
    b.add_node("BlockInput", "x")
    b.add_node("Conv2d", "conv1", {**conv, "stride": 2 if downsample else 1})
    b.add_node("BatchNorm2d", "bn1")
    b.add_node("ReLU", "relu1")
    b.add_node("Conv2d", "conv2", conv)
    b.add_node("BatchNorm2d", "bn2")
    b.add_node("Add", "add")
    b.add_node("ReLU", "relu2")
    b.add_node("BlockOutput", "y")
    _chain(b, "x", "conv1", "bn1", "relu1", "conv2", "bn2", "add", "relu2", "y")
    channels, strides = ["conv1.out_channels", "conv2.out_channels"], ["conv1.stride"]
    if downsample:
        b.add_node("Conv2d", "proj", {"out_channels": 64, "kernel_size": 1, "stride": 2,
                                      "bias": False})
        b.add_node("BatchNorm2d", "proj_bn")
        _chain(b, "x", "proj", "proj_bn", "add")
        channels.append("proj.out_channels")
        strides.append("proj.stride")
    else:
        b.connect("x", "out", "add", "x")
    exposed = [Exposed("channels", tuple(channels), 64)]
    if downsample:
        exposed.append(Exposed("stride", tuple(strides), 2))
    _finish(g, name, exposed)
    return name


def resnet_bottleneck(g: Graph, downsample: bool = False) -> str:
    name = "resnet_bottleneck_down" if downsample else "resnet_bottleneck"
    doc = ("The building block of ResNet-50 and deeper: a 1 × 1 convolution narrows the "
           "channels to `width`, a 3 × 3 convolution works at that narrow width (cheap), and "
           "a 1 × 1 convolution widens back to `channels` (usually 4 × width); batch "
           "normalization after each, and the block's input added before the last ReLU. ")
    if downsample:
        doc += ("This one opens a stage: the 3 × 3 convolution has the stride (2 halves the "
                "height and width) and the shortcut is a 1 × 1 convolution with that stride "
                "and `channels` outputs, as torchvision's ResNet (v1.5) does.")
    else:
        doc += "The shortcut is the input itself: `channels` must equal its input's channels."
    d = g.add_block(name, "ResNet bottleneck block (downsample)" if downsample
                    else "ResNet bottleneck block", doc)
    b = d.graph
    b.add_node("BlockInput", "x")
    b.add_node("Conv2d", "conv1", {"out_channels": 64, "kernel_size": 1, "bias": False})
    b.add_node("BatchNorm2d", "bn1")
    b.add_node("ReLU", "relu1")
    b.add_node("Conv2d", "conv2", {"out_channels": 64, "kernel_size": 3, "padding": 1,
                                   "stride": 2 if downsample else 1, "bias": False})
    b.add_node("BatchNorm2d", "bn2")
    b.add_node("ReLU", "relu2")
    b.add_node("Conv2d", "conv3", {"out_channels": 256, "kernel_size": 1, "bias": False})
    b.add_node("BatchNorm2d", "bn3")
    b.add_node("Add", "add")
    b.add_node("ReLU", "relu3")
    b.add_node("BlockOutput", "y")
    _chain(b, "x", "conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3", "add",
           "relu3", "y")
    exposed = [Exposed("width", ("conv1.out_channels", "conv2.out_channels"), 64)]
    if downsample:
        b.add_node("Conv2d", "proj", {"out_channels": 256, "kernel_size": 1, "stride": 2,
                                      "bias": False})
        b.add_node("BatchNorm2d", "proj_bn")
        _chain(b, "x", "proj", "proj_bn", "add")
        exposed += [Exposed("channels", ("conv3.out_channels", "proj.out_channels"), 256),
                    Exposed("stride", ("conv2.stride", "proj.stride"), 2)]
    else:
        b.connect("x", "out", "add", "x")
        exposed.append(Exposed("channels", ("conv3.out_channels",), 256))
    _finish(g, name, exposed)
    return name


def _attention(b: Graph, node: str, query: str, memory: str, causal: bool) -> None:
    b.add_node("MultiHeadAttention", node, {"num_heads": 8, "dropout": 0.1,
                                            "causal": causal})
    b.connect(query, b.spec(query).outputs[0].name, node, "query")
    for port in ("key", "value"):
        b.connect(memory, b.spec(memory).outputs[0].name, node, port)


def _residual(b: Graph, inp: str, sub: str, drop: str, add: str, norm: str) -> None:
    """norm(inp + dropout(sub)): the post-norm residual of the Transformer paper."""
    b.add_node("Dropout", drop, {"p": 0.1})
    b.add_node("Add", add)
    b.add_node("LayerNorm", norm)
    b.connect(sub, b.spec(sub).outputs[0].name, drop, "x")
    b.connect(inp, b.spec(inp).outputs[0].name, add, "x")
    _chain(b, drop, add, norm)


def _feed_forward(b: Graph, inp: str, drop: str, add: str, norm: str) -> None:
    b.add_node("Linear", "linear1", {"out_features": 2048})
    b.add_node("ReLU", "activation")
    b.add_node("Dropout", "dropout", {"p": 0.1})
    b.add_node("Linear", "linear2", {"out_features": 512})
    _chain(b, inp, "linear1", "activation", "dropout", "linear2")
    _residual(b, inp, "linear2", drop, add, norm)


def _transformer_exposed(attns: tuple[str, ...], drops: tuple[str, ...]) -> list[Exposed]:
    return [
        Exposed("d_model", ("linear2.out_features",) + tuple(f"{a}.embed_dim" for a in attns),
                512, "Features per token (the input's last size, and the output's)."),
        Exposed("heads", tuple(f"{a}.num_heads" for a in attns), 8,
                "Attention heads; d_model must be a multiple of it."),
        Exposed("ffn", ("linear1.out_features",), 2048,
                "Width of the feed-forward network's hidden layer (4 × d_model in the paper)."),
        Exposed("dropout", tuple(f"{a}.dropout" for a in attns)
                + tuple(f"{d}.p" for d in drops), 0.1,
                "Dropout while training: on the attention weights, after each sub-layer and "
                "inside the feed-forward network (0.1 in the paper)."),
    ]


def transformer_encoder_layer(g: Graph) -> str:
    d = g.add_block("transformer_encoder_layer", "Transformer encoder layer", (
        "One layer of the Transformer's encoder (Vaswani et al., 2017), as PyTorch's "
        "nn.TransformerEncoderLayer computes it (post-norm, ReLU): every token looks at every "
        "other token through multi-head self-attention, the result is added to the token "
        "and normalized (LayerNorm); then a two-layer feed-forward network works on each "
        "token alone, again added and normalized. Input and output: N × T × d_model. Stack "
        "several with `repeat`. It has no padding mask: every position is attended to."))
    b = d.graph
    b.add_node("BlockInput", "x")
    _attention(b, "self_attn", "x", "x", False)
    _residual(b, "x", "self_attn", "dropout1", "add1", "norm1")
    _feed_forward(b, "norm1", "dropout2", "add2", "norm2")
    b.add_node("BlockOutput", "y")
    _chain(b, "norm2", "y")
    _finish(g, d.name, _transformer_exposed(("self_attn",),
                                            ("dropout", "dropout1", "dropout2")))
    return d.name


def transformer_decoder_layer(g: Graph) -> str:
    d = g.add_block("transformer_decoder_layer", "Transformer decoder layer", (
        "One layer of the Transformer's decoder, as PyTorch's nn.TransformerDecoderLayer "
        "computes it (post-norm, ReLU) with a causal mask: each target token looks at the "
        "tokens before it (masked self-attention: it may not peek at what it must predict), "
        "then at the encoder's output `memory` (cross-attention: which source tokens matter "
        "for this one), then a feed-forward network; each step is added to its input and "
        "normalized. Inputs: x, the target tokens' features N × T × d_model, and memory, "
        "the encoder's output N × S × d_model. It has no padding mask."))
    b = d.graph
    b.add_node("BlockInput", "x")
    b.add_node("BlockInput", "memory")
    _attention(b, "self_attn", "x", "x", True)
    _residual(b, "x", "self_attn", "dropout1", "add1", "norm1")
    _attention(b, "multihead_attn", "norm1", "memory", False)
    _residual(b, "norm1", "multihead_attn", "dropout2", "add2", "norm2")
    _feed_forward(b, "norm2", "dropout3", "add3", "norm3")
    b.add_node("BlockOutput", "y")
    _chain(b, "norm3", "y")
    _finish(g, d.name, _transformer_exposed(("self_attn", "multihead_attn"),
                                            ("dropout", "dropout1", "dropout2", "dropout3")))
    return d.name


def mlp_block(g: Graph) -> str:
    d = g.add_block("mlp_block", "MLP block", (
        "One layer of a multilayer perceptron: a fully connected layer (every output is a "
        "weighted sum of all inputs), a ReLU, and dropout, which switches off a random share "
        "of the outputs while training so the network cannot lean on any one of them. Set "
        "`features` (outputs) and `dropout`; stack several with `repeat`. Open it to swap the "
        "ReLU for another activation."))
    b = d.graph
    b.add_node("BlockInput", "x")
    b.add_node("Linear", "fc", {"out_features": 128})
    b.add_node("ReLU", "act")
    b.add_node("Dropout", "drop", {"p": 0.1})
    b.add_node("BlockOutput", "y")
    _chain(b, "x", "fc", "act", "drop", "y")
    _finish(g, d.name, [Exposed("features", ("fc.out_features",), 128),
                        Exposed("dropout", ("drop.p",), 0.1)])
    return d.name


def inverted_residual(g: Graph) -> str:
    d = g.add_block("inverted_residual", "Inverted residual (MobileNetV2)", (
        "MobileNetV2's block (Sandler et al., 2018): a 1 × 1 convolution expands the "
        "channels (to `expanded`, usually 6 × the input's), a 3 × 3 convolution filters at "
        "that width, and a 1 × 1 convolution projects back to `channels` with no activation "
        "after it (a 'linear bottleneck'); the input is added to the result. Thin at both "
        "ends, wide in the middle: the reverse of ResNet's bottleneck, hence 'inverted'. "
        "Differences from the paper: the 3 × 3 convolution is a plain one, not depthwise "
        "(LayerLoom's Conv2d has no groups yet), so it costs more; ReLU stands in for ReLU6; "
        "and the stride is 1, since the residual needs the input's size "
        "(`channels` must equal the input's channels)."))
    b = d.graph
    b.add_node("BlockInput", "x")
    b.add_node("Conv2d", "expand", {"out_channels": 96, "kernel_size": 1, "bias": False})
    b.add_node("BatchNorm2d", "expand_bn")
    b.add_node("ReLU", "expand_relu")
    b.add_node("Conv2d", "conv", {"out_channels": 96, "kernel_size": 3, "padding": 1,
                                  "bias": False})
    b.add_node("BatchNorm2d", "conv_bn")
    b.add_node("ReLU", "conv_relu")
    b.add_node("Conv2d", "project", {"out_channels": 16, "kernel_size": 1, "bias": False})
    b.add_node("BatchNorm2d", "project_bn")
    b.add_node("Add", "add")
    b.add_node("BlockOutput", "y")
    _chain(b, "x", "expand", "expand_bn", "expand_relu", "conv", "conv_bn", "conv_relu",
           "project", "project_bn", "add", "y")
    b.connect("x", "out", "add", "x")
    _finish(g, d.name, [Exposed("expanded", ("expand.out_channels", "conv.out_channels"), 96),
                        Exposed("channels", ("project.out_channels",), 16)])
    return d.name


BUILDERS = {
    "conv_bn_relu": conv_bn_relu,
    "resnet_basic": resnet_basic,
    "resnet_basic_down": lambda g: resnet_basic(g, downsample=True),
    "resnet_bottleneck": resnet_bottleneck,
    "resnet_bottleneck_down": lambda g: resnet_bottleneck(g, downsample=True),
    "transformer_encoder_layer": transformer_encoder_layer,
    "transformer_decoder_layer": transformer_decoder_layer,
    "mlp_block": mlp_block,
    "inverted_residual": inverted_residual,
}


def texts() -> dict[str, str]:
    """File name -> the JSON text of each shipped entry."""
    from ..library import FORMAT
    from ..project import SCHEMA, dumps
    out = {}
    for name, build in BUILDERS.items():
        g = Graph()
        build(g)
        d = {"format": FORMAT, "schema": SCHEMA, **g.blocks[name].to_dict()}
        out[f"{name}.json"] = dumps(d)
    return out


def main() -> None:
    for file, text in texts().items():
        (FOLDER / file).write_text(text, encoding="utf-8")
        print(FOLDER / file)


if __name__ == "__main__":
    main()

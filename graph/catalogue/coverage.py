"""torch.nn's layer classes and the node type each one is (issue 26).

NODE_FOR maps a torch.nn class name to the catalogue type id that builds that class (the
importer's first lookup, and the palette's answer to "where is nn.X?"). LEFT_OUT names the
classes with no node and why. tests/runtime/test_nn_coverage.py fails when a class of the
installed torch.nn is in neither, or when a mapped type is not in the catalogue.
Strings only: graph/ imports no torch.
"""
from __future__ import annotations

# Not layers: containers, base classes, wrappers, and the lazy variants (a lazy module is its
# eager twin whose sizes are set by the first input, which every node does with `auto` sizes).
NOT_LAYERS = {
    "Module": "the base class of every layer", "Container": "a deprecated container",
    "Sequential": "a container: a chain of nodes (or a block) is what it holds",
    "ModuleList": "a container: a block with repeat holds a list of layers",
    "ModuleDict": "a container of named layers", "ParameterList": "a container of parameters",
    "ParameterDict": "a container of parameters",
    "RNNBase": "the base class of RNN, LSTM and GRU",
    "RNNCellBase": "the base class of the cells",
    "DataParallel": "a wrapper that runs a model on several GPUs, not a layer",
    "SyncBatchNorm": "BatchNorm synchronised across processes: a training setting of "
                     "several-process runs (issue 27), not a layer; a BatchNorm node is its "
                     "single-process form",
}
LAZY_PREFIX = "Lazy"

# Same name in torch.nn and in the catalogue unless written otherwise below.
_SAME = """
ReLU Sigmoid Tanh LeakyReLU GELU Softmax ELU SELU CELU Softplus Softsign Hardtanh ReLU6
Hardsigmoid Hardswish SiLU Mish LogSigmoid Tanhshrink Softshrink Hardshrink Threshold RReLU
PReLU LogSoftmax Softmin Softmax2d GLU
Linear Bilinear Identity Flatten Unflatten Embedding EmbeddingBag
Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout
Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d
MaxPool1d MaxPool2d MaxPool3d AvgPool1d AvgPool2d AvgPool3d
AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d
AdaptiveMaxPool1d AdaptiveMaxPool2d AdaptiveMaxPool3d LPPool1d LPPool2d LPPool3d
FractionalMaxPool2d FractionalMaxPool3d
BatchNorm1d BatchNorm2d BatchNorm3d InstanceNorm1d InstanceNorm2d InstanceNorm3d
LayerNorm GroupNorm RMSNorm LocalResponseNorm
ZeroPad1d ZeroPad2d ZeroPad3d ConstantPad1d ConstantPad2d ConstantPad3d
ReflectionPad1d ReflectionPad2d ReflectionPad3d ReplicationPad1d ReplicationPad2d
ReplicationPad3d CircularPad1d CircularPad2d CircularPad3d
Upsample UpsamplingNearest2d UpsamplingBilinear2d PixelShuffle PixelUnshuffle ChannelShuffle
Fold Unfold CosineSimilarity PairwiseDistance
RNN LSTM GRU RNNCell LSTMCell GRUCell
TransformerEncoderLayer TransformerDecoderLayer
MSELoss BCELoss HuberLoss SmoothL1Loss L1Loss NLLLoss BCEWithLogitsLoss CrossEntropyLoss
KLDivLoss PoissonNLLLoss GaussianNLLLoss SoftMarginLoss MultiLabelSoftMarginLoss
MultiMarginLoss MultiLabelMarginLoss HingeEmbeddingLoss CosineEmbeddingLoss
MarginRankingLoss TripletMarginLoss
"""

NODE_FOR: dict[str, str] = {name: name for name in _SAME.split()}
NODE_FOR.update({
    "MultiheadAttention": "MultiHeadAttention",  # the catalogue's name since the seed notes
})

LEFT_OUT = {
    "MaxUnpool1d": "needs the indices a MaxPool returns beside its values (return_indices): "
                   "no pooling node gives them yet",
    "MaxUnpool2d": "needs a pooling's indices, as MaxUnpool1d",
    "MaxUnpool3d": "needs a pooling's indices, as MaxUnpool1d",
    "TransformerEncoder": "a stack of TransformerEncoderLayer: the importer brings it in as "
                          "its layers in a row (then its norm), each editable; a block with "
                          "repeat draws the same stack",
    "TransformerDecoder": "a stack of TransformerDecoderLayer: a block with repeat, as above",
    "Transformer": "an encoder stack and a decoder stack: the transformer template wires them "
                   "from blocks",
    "AdaptiveLogSoftmaxWithLoss": "a loss and an output layer at once, returning a named "
                                  "tuple: no node form yet",
    "CTCLoss": "reads per-sample sequence lengths beside the targets: no data set gives them "
               "yet",
    "TripletMarginWithDistanceLoss": "takes a Python distance function as an argument",
    "LinearCrossEntropyLoss": "Linear and CrossEntropyLoss fused for memory: the two nodes "
                              "compute it",
    "NLLLoss2d": "a deprecated alias of NLLLoss",
    "CrossMapLRN2d": "a legacy Lua-torch layer; LocalResponseNorm is its modern form",
}

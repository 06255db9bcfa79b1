"""The import zoo (issue 26): architectures written as a PyTorch user writes them. Each is
imported by tests/runtime/test_import.py and must come back equal. Line numbers matter to
the test of an unmapped operation (it names this file's line)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, n_in=4, hidden=16, n_out=3):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(hidden, n_out)

    def forward(self, x):
        return self.fc2(self.drop(F.relu(self.fc1(x))))


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block: two 3 × 3 convs, and a 1 × 1 projection on the skip
    where the stride or the width changes."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A small ResNet: a stem, two stages of two basic blocks, global pooling, a classifier."""

    def __init__(self, width=8, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(BasicBlock(width, width), BasicBlock(width, width))
        self.layer2 = nn.Sequential(BasicBlock(width, 2 * width, 2),
                                    BasicBlock(2 * width, 2 * width))
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(x.mean((2, 3)), 1))


class LeNet(nn.Module):
    """LeNet-5 as the tutorials write it: functional pooling, view, log_softmax."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.fc3(x), dim=1)


class Unmapped(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.cumsum(self.fc(x), 1)  # no node computes a running sum


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return x


def make_mlp(hidden=16):
    """A function returning a module (SOURCE may name one)."""
    return MLP(hidden=hidden)


class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        raise ValueError("no weights file here")


class MobileNetish(nn.Module):
    """MobileNetV2's inverted residual: 1 × 1 expand, 3 × 3 depthwise (groups), 1 × 1 project,
    ReLU6, a residual where the shapes allow; adaptive pooling and a Flatten module."""

    def __init__(self, c=8, classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c),
                                  nn.ReLU6())
        self.block1 = InvertedResidual(c, c, 1)
        self.block2 = InvertedResidual(c, 2 * c, 2)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(2 * c, classes))

    def forward(self, x):
        return self.head(self.pool(self.block2(self.block1(self.stem(x)))))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand=4):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class UNet(nn.Module):
    """A two-level U-Net: convs down, max-pool, transposed conv up, concatenation of the
    skip."""

    def __init__(self, c=8):
        super().__init__()
        self.down1 = DoubleConv(1, c)
        self.pool = nn.MaxPool2d(2)
        self.down2 = DoubleConv(c, 2 * c)
        self.up = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec = DoubleConv(2 * c, c)
        self.out = nn.Conv2d(c, 2, 1)

    def forward(self, x):
        a = self.down1(x)
        b = self.down2(self.pool(a))
        return self.out(self.dec(torch.cat([self.up(b), a], dim=1)))


class DoubleConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
                                 nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1),
                                 nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x):
        return self.net(x)


class GRUClassifier(nn.Module):
    """Embedding + GRU, the last layer's final state to a linear classifier."""

    def __init__(self, vocab=50, dim=16, hidden=24, classes=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.gru = nn.GRU(dim, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, tokens):
        _, h = self.gru(self.emb(tokens))
        return self.fc(h[-1])


class LSTMLanguageModel(nn.Module):
    """A 2-layer LSTM language model: a next-token distribution at every step."""

    def __init__(self, vocab=40, dim=16, hidden=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, batch_first=True, dropout=0.1)
        self.drop = nn.Dropout(0.1)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        y, _ = self.lstm(self.emb(tokens))
        return self.out(self.drop(y))


class PreNormMLP(nn.Module):
    """Residual MLP blocks, pre-norm: x + W2 GELU(W1 LN(x))."""

    def __init__(self, d=16, blocks=3, classes=3):
        super().__init__()
        self.inp = nn.Linear(6, d)
        self.blocks = nn.ModuleList(ResidualMLP(d) for _ in range(blocks))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, classes)

    def forward(self, x):
        x = self.inp(x)
        for b in self.blocks:
            x = b(x)
        return self.out(self.norm(x))


class ResidualMLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(self.ln(x))))


class DCGANGenerator(nn.Module):
    """DCGAN's generator: z (N × 32 × 1 × 1) up to a 1 × 16 × 16 image."""

    def __init__(self, z=32, c=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z, 2 * c, 4, 1, 0, bias=False), nn.BatchNorm2d(2 * c), nn.ReLU(),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
            nn.ConvTranspose2d(c, 1, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.net(z)


class VGGish(nn.Module):
    """VGG's pattern: a features Sequential of conv-ReLU-pool, adaptive pooling, flatten, a
    classifier Sequential."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(nn.Linear(64, 32), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class Conv1dNet(nn.Module):
    """A 1-d CNN over sequences (N × C × L): conv, batch norm, pooling, a global max."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(4, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ELU(),
                                 nn.MaxPool1d(2), nn.Conv1d(8, 8, 3, dilation=2),
                                 nn.SiLU(), nn.AdaptiveMaxPool1d(1), nn.Flatten(),
                                 nn.Linear(8, 2))

    def forward(self, x):
        return self.net(x)


class ViTBlock(nn.Module):
    """A pre-norm Transformer encoder block as ViT writes it: x + attention(LayerNorm(x)),
    then x + MLP(LayerNorm(x)), the MLP with GELU."""

    def __init__(self, dim, heads, mlp_ratio=2):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(),
                                 nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """A small Vision Transformer: stride-p patch embedding, a learned class token in front,
    learned position embeddings, pre-norm encoder blocks, the class token's features into a
    LayerNorm and a linear head."""

    def __init__(self, image=16, patch=4, channels=3, dim=32, depth=2, heads=4, classes=10):
        super().__init__()
        tokens = (image // patch) ** 2
        self.patch_embed = nn.Conv2d(channels, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens + 1, dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)  # timm's initialisation
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.Sequential(*[ViTBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # N × T × D
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1) + self.pos_embed
        x = self.blocks(x)
        return self.head(self.norm(x[:, 0]))


class TransformerClassifier(nn.Module):
    """torch's own nn.TransformerEncoder (two post-norm layers) over embedded tokens, the
    mean over the sequence, a linear classifier."""

    def __init__(self, vocab=50, dim=32, heads=4, ff=64, layers=2, classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(dim, heads, ff, batch_first=True), num_layers=layers)
        self.fc = nn.Linear(dim, classes)

    def forward(self, tokens):
        return self.fc(self.encoder(self.embed(tokens)).mean(1))

"""Generators and discriminators, built from a `ModelSpec`.

    G(z, labels=None) -> images in [-1, 1], (B, C, S, S), or points (B, 2)
    D(x, labels=None) -> logits (B,)          no sigmoid: the losses work on logits

Architectures:
  classroom  28x28, transposed convolutions; small enough to train on a laptop CPU in class
  paper      32x32, the FLGAN authors' code: Linear to 128x8x8, two upsample + 3x3 conv blocks;
             D of four stride-2 3x3 blocks with Dropout2d(0.25). Their BatchNorm2d(c, 0.8) passes
             0.8 as *eps* (a quirk of the PyTorch-GAN code they started from); kept for fidelity.
             As in their code, no batch norm follows the Linear layer and conv biases keep
             PyTorch's default init (only the weights are drawn from N(0, 0.02)).
             Each upsample + 3x3 conv pair is computed as one transposed convolution (see
             `UpsampleFoldingSequential`): same layers, weights and function, 2.25x fewer
             multiply-adds.
  wide       28x28, the classroom model grown for a GPU: G twice as wide with a 3x3 conv block
             at 14x14, D with a third conv layer (64, 128, 256 channels); the latent-2 lesson
             model, and the best MNIST generators before cluster conditioning
  dcgan64    Radford et al.'s 64x64 DCGAN, for faces and RGB folders
  mlp        three hidden layers, for the 2-D toy sets

`depth` sizes the generator: medium is the reference; small halves its widths; large doubles
them and adds one 3x3 conv block. A conditional model (CGAN) appends a label embedding to z in G
and uses a projection head in D (Miyato & Koyama 2018). A cluster-conditioned model has the same
embeddings for clusters of the training images instead of labels, and needs no labels from
outside: G picks the cluster from its first latent number (z[0]'s slice of the normal
distribution, each cluster as often as in the data) and D the image's nearest cluster centre.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .clusters import nearest

WIDTH = {"small": 0.5, "medium": 1.0, "large": 2.0}


@dataclass(frozen=True)
class ModelSpec:
    model: str = "classroom"
    latent_dim: int = 100
    channels: int = 1
    depth: str = "medium"
    batch_norm: bool = True
    dropout: float = 0.0
    self_attention: bool = False
    spectral_norm_g: bool = False
    spectral_norm_d: bool = False
    batch_norm_d: bool = True   # with batch_norm: D has batch norm too (SAGAN's D has none)
    num_classes: int = 0        # > 0: conditional (CGAN)
    clusters: int = 0           # > 0: conditioned on this many clusters of the training images
                                # (gan_core.clusters): G picks one from z[0], D from the image

    @property
    def conditions(self) -> int:
        """How many values G's and D's condition embeddings take (classes or clusters)."""
        return self.num_classes or self.clusters

    @property
    def bn_in_d(self) -> bool:
        return self.batch_norm and self.batch_norm_d

    @property
    def image_size(self) -> Optional[int]:
        return ARCHITECTURES[self.model].image_size if self.model in ARCHITECTURES else None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (2,) if self.model == "mlp" else (self.channels, self.image_size, self.image_size)

    def to_dict(self) -> dict:
        return asdict(self)


# Fields renamed since files were first written: the old name -> the new one. Before G could
# have spectral norm of its own, `spectral_norm` put it on D only.
RENAMED_FIELDS = {"spectral_norm": "spectral_norm_d"}


def upgrade_fields(d: dict) -> dict:
    """A config or spec dict of an older file with its fields under today's names (a dict
    that holds both an old and its new name keeps both, for the caller to refuse)."""
    out = dict(d)
    for old, new in RENAMED_FIELDS.items():
        if old in out and new not in out:
            out[new] = out.pop(old)
    return out


# --- building blocks -------------------------------------------------------------------------

class SelfAttention(nn.Module):
    """SAGAN self-attention: every position attends to all others; starts as identity (gamma=0)."""

    def __init__(self, channels: int):
        super().__init__()
        inner = max(channels // 8, 1)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):                                   # (B, C, H, W)
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)        # (B, HW, C')
        k = self.key(x).flatten(2)                          # (B, C', HW)
        attn = torch.softmax(q @ k, dim=-1)                 # (B, HW, HW)
        v = self.value(x).flatten(2)                        # (B, C, HW)
        out = (v @ attn.transpose(1, 2)).view(b, c, h, w)
        return x + self.gamma * out


# Nearest 2x upsampling then a 3x3 convolution (padding 1) is a stride-2 transposed convolution
# with a 4x4 kernel: output row 2m sees input rows m-1 (tap 0) and m (taps 1, 2); row 2m+1 sees
# m (taps 0, 1) and m+1 (tap 2). FOLD[k, t] says which 3x3 taps t add up to 4x4 tap k.
FOLD = torch.tensor([[0., 0., 1.], [0., 1., 1.], [1., 1., 0.], [1., 0., 0.]])


def _folds(up: nn.Module, conv: nn.Module) -> bool:
    """True when `up` then `conv` is the pair that `fold_upsample_conv` computes exactly."""
    scale = up.scale_factor if isinstance(up, nn.Upsample) else None
    return (scale in (2, 2.0, (2, 2), (2.0, 2.0)) and up.mode == "nearest" and up.size is None
            and type(conv) is nn.Conv2d and conv.kernel_size == (3, 3)
            and conv.stride == (1, 1) and conv.padding == (1, 1) and conv.dilation == (1, 1)
            and conv.groups == 1 and conv.padding_mode == "zeros")


def fold_upsample_conv(x: torch.Tensor, conv: nn.Conv2d,
                       bn: Optional[nn.BatchNorm2d] = None) -> torch.Tensor:
    """conv(Upsample(scale_factor=2, mode="nearest")(x)) without making the upsampled map,
    followed by `bn` when one is given (eval mode: its affine map is folded in too).

    (B, Cin, H, W) -> (B, Cout, 2H, 2W). The 3x3 conv costs 36 multiply-adds per input pixel
    and output channel on the upsampled map; the folded transposed conv 16. Gradients flow to
    conv.weight through the fold, so training updates the same 3x3 parameters.
    """
    fold = FOLD.to(device=conv.weight.device, dtype=conv.weight.dtype)
    w = torch.einsum("py,oiyx,qx->iopq", fold, conv.weight, fold)    # (Cin, Cout, 4, 4)
    b = conv.bias
    if bn is not None:              # y = (conv - mean) * gamma / sqrt(var + eps) + beta
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight
        w = w * scale.view(1, -1, 1, 1)
        b = -bn.running_mean * scale if b is None else (b - bn.running_mean) * scale
        if bn.bias is not None:
            b = b + bn.bias
    if x.device.type == "cpu":      # oneDNN's transposed conv is ~2x faster channels-last
        x = x.contiguous(memory_format=torch.channels_last)
    return F.conv_transpose2d(x, w, b, stride=2, padding=1)


class UpsampleFoldingSequential(nn.Sequential):
    """nn.Sequential that runs each nearest-2x-Upsample + 3x3-Conv2d pair as one folded
    transposed convolution (and, in eval mode, a BatchNorm2d right after it as well).
    Same modules, state_dict keys and function as nn.Sequential."""

    def forward(self, x):
        layers = list(self)
        i = 0
        while i < len(layers):
            if i + 1 < len(layers) and _folds(layers[i], layers[i + 1]):
                bn = layers[i + 2] if i + 2 < len(layers) else None
                if not (isinstance(bn, nn.BatchNorm2d) and not bn.training
                        and bn.running_mean is not None):
                    bn = None
                x = fold_upsample_conv(x, layers[i + 1], bn)
                i += 3 if bn is not None else 2
            else:
                x = layers[i](x)
                i += 1
        return x.contiguous()       # NCHW out, as nn.Sequential gives (channels-last inside)


def _bn2d(c: int, on: bool, eps: float = 1e-5) -> nn.Module:
    return nn.BatchNorm2d(c, eps=eps) if on else nn.Identity()


def _dropout2d(p: float) -> nn.Module:
    return nn.Dropout2d(p) if p > 0 else nn.Identity()


class Generator(nn.Module):
    """Condition embedding (CGAN labels or clusters) + a body that maps the latent vector to a
    sample."""

    def __init__(self, spec: ModelSpec, body: nn.Module):
        super().__init__()
        self.spec = spec
        self.latent_dim = spec.latent_dim
        k = spec.conditions
        self.embed = nn.Embedding(k, k) if k else None
        self.body = body
        if spec.clusters:
            # Upper edges of the clusters' cumulated shares of the training images (set by the
            # trainer): cluster j is drawn when Phi(z[0]) falls in its slice of [0, 1].
            self.register_buffer("cluster_edges",
                                 torch.arange(1, spec.clusters + 1) / spec.clusters)

    def set_cluster_shares(self, shares: torch.Tensor) -> None:
        self.cluster_edges.copy_(shares.cumsum(0))

    def cluster_of(self, z: torch.Tensor) -> torch.Tensor:
        """The cluster each latent vector draws: (B, latent) -> (B,) int64."""
        u = torch.special.ndtr(z[:, 0].float())                          # (B,) in [0, 1]
        edges = self.cluster_edges.float().contiguous()
        return torch.searchsorted(edges, u.contiguous(), right=True).clamp_(0, len(edges) - 1)

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                if not self.spec.clusters:
                    raise ValueError("this generator is conditional: pass class labels")
                labels = self.cluster_of(z)
            z = torch.cat([z, self.embed(labels)], 1)
        return self.body(z)


class Discriminator(nn.Module):
    """features(x) -> (B, F); head -> logit; + projection <embed(y), features> when conditional
    (y: class labels, or clusters; a cluster model finds a real image's cluster itself)."""

    def __init__(self, spec: ModelSpec, features: nn.Module, feature_dim: int):
        super().__init__()
        self.spec = spec
        self.features = features
        self.head = nn.Linear(feature_dim, 1)
        k = spec.conditions
        self.embed = nn.Embedding(k, feature_dim) if k else None
        if self.embed is not None and not spec.spectral_norm_d:
            # The projection starts at zero, so D starts as an unconditional D and learns what
            # each class or cluster adds. PyTorch's default N(0, 1) made the projection term
            # dominate D's first logits (losses near 30-50 at step 1, still 7-11 after 60 s)
            # and cost a 60 s classroom run 8-20 points of confident share. Under spectral
            # norm the start's scale is immaterial, and a zero matrix has no largest singular
            # value to divide by (0/0), so it keeps the default there.
            nn.init.zeros_(self.embed.weight)
        if spec.clusters:         # the clusters' centres in pixels (set by the trainer)
            size = spec.image_size or 1
            self.register_buffer("cluster_centres",
                                 torch.zeros(spec.clusters, spec.channels * size * size))

    def cluster_of(self, x: torch.Tensor) -> torch.Tensor:
        """Each image's nearest cluster centre: (B, C, H, W) -> (B,) int64."""
        return nearest(x, self.cluster_centres)

    def forward(self, x: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.features(x)                                # (B, F)
        out = self.head(h).squeeze(1)                       # (B,)
        if self.embed is not None:
            if labels is None:
                if not self.spec.clusters:
                    raise ValueError("this discriminator is conditional: pass class labels")
                labels = self.cluster_of(x)
            out = out + (self.embed(labels) * h).sum(1)
        return out


# --- architectures ---------------------------------------------------------------------------

def _g28(spec: ModelSpec, z_in: int, g1: int, g2: int, block: bool) -> list[nn.Module]:
    """A 28x28 generator: Linear to g1x7x7, transposed convs to 14 and 28; `block` adds a 3x3
    conv block at 14x14."""
    bn = spec.batch_norm
    g = [nn.Linear(z_in, g1 * 7 * 7), nn.Unflatten(1, (g1, 7, 7)),   # (B, g1, 7, 7)
         _bn2d(g1, bn), nn.ReLU(True),
         nn.ConvTranspose2d(g1, g2, 4, 2, 1), _bn2d(g2, bn), nn.ReLU(True)]   # (B, g2, 14, 14)
    if block:
        g += [nn.Conv2d(g2, g2, 3, 1, 1), _bn2d(g2, bn), nn.ReLU(True)]
    if spec.self_attention:
        g += [SelfAttention(g2)]
    return g + [nn.ConvTranspose2d(g2, spec.channels, 4, 2, 1), nn.Tanh()]  # (B, C, 28, 28)


def _d28(spec: ModelSpec, layers: tuple[tuple[int, int], ...]) -> tuple[list[nn.Module], int]:
    """A 28x28 discriminator of stride-2 convs, `layers` = (channels, kernel) each: 64 channels
    at 14x14 without batch norm, then each layer halves the size (7x7, then 4x4)."""
    d1 = layers[0][0]
    d = [nn.Conv2d(spec.channels, d1, layers[0][1], 2, 1), nn.LeakyReLU(0.2, True),  # 14x14
         _dropout2d(spec.dropout)]
    if spec.self_attention:
        d += [SelfAttention(d1)]
    c_in, size = d1, 14
    for c_out, k in layers[1:]:
        d += [nn.Conv2d(c_in, c_out, k, 2, 1), _bn2d(c_out, spec.bn_in_d),
              nn.LeakyReLU(0.2, True), _dropout2d(spec.dropout)]
        c_in, size = c_out, (size + 1) // 2                                # 7, then 4
    return d + [nn.Flatten()], c_in * size * size


def _classroom(spec: ModelSpec, z_in: int):
    w = WIDTH[spec.depth]
    g = _g28(spec, z_in, int(128 * w), int(64 * w), block=spec.depth == "large")
    d, feat = _d28(spec, ((64, 4), (128, 4)))
    return nn.Sequential(*g), nn.Sequential(*d), feat


def _wide(spec: ModelSpec, z_in: int):
    """The classroom model grown for a GPU: G twice as wide with the 3x3 block always, D with a
    third conv layer (256 channels, 4x4)."""
    w = WIDTH[spec.depth]
    g = _g28(spec, z_in, int(256 * w), int(128 * w), block=True)
    d, feat = _d28(spec, ((64, 4), (128, 4), (256, 3)))
    return nn.Sequential(*g), nn.Sequential(*d), feat


def _paper(spec: ModelSpec, z_in: int):
    w = WIDTH[spec.depth]
    g1, g2 = int(128 * w), int(64 * w)
    bn = spec.batch_norm
    # No batch norm between the Linear layer and the first upsample: the authors' flgan.py and
    # dcgan.py have none there (PyTorch-GAN's dcgan.py, which they started from, does).
    g = [nn.Linear(z_in, g1 * 8 * 8), nn.Unflatten(1, (g1, 8, 8)),           # (B, g1, 8, 8)
         nn.Upsample(scale_factor=2),                                        # (B, g1, 16, 16)
         nn.Conv2d(g1, g1, 3, 1, 1), _bn2d(g1, bn, 0.8), nn.LeakyReLU(0.2, True)]
    if spec.self_attention:
        g += [SelfAttention(g1)]
    g += [nn.Upsample(scale_factor=2),                                       # (B, g1, 32, 32)
          nn.Conv2d(g1, g2, 3, 1, 1), _bn2d(g2, bn, 0.8), nn.LeakyReLU(0.2, True)]
    if spec.depth == "large":
        g += [nn.Conv2d(g2, g2, 3, 1, 1), _bn2d(g2, bn, 0.8), nn.LeakyReLU(0.2, True)]
    g += [nn.Conv2d(g2, spec.channels, 3, 1, 1), nn.Tanh()]                  # (B, C, 32, 32)

    d, c_in = [], spec.channels
    for i, c_out in enumerate((16, 32, 64, 128)):                            # 32 -> 16, 8, 4, 2
        d += [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.LeakyReLU(0.2, True), _dropout2d(spec.dropout)]
        if i > 0:
            d += [_bn2d(c_out, spec.bn_in_d, 0.8)]
        if i == 1 and spec.self_attention:
            d += [SelfAttention(c_out)]
        c_in = c_out
    d += [nn.Flatten()]
    return UpsampleFoldingSequential(*g), nn.Sequential(*d), 128 * 2 * 2


def _dcgan64(spec: ModelSpec, z_in: int):
    ngf, ndf, bn = int(64 * WIDTH[spec.depth]), 64, spec.batch_norm
    g = [nn.Unflatten(1, (z_in, 1, 1)),
         nn.ConvTranspose2d(z_in, ngf * 8, 4, 1, 0), _bn2d(ngf * 8, bn), nn.ReLU(True),  # 4x4
         nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1), _bn2d(ngf * 4, bn), nn.ReLU(True),  # 8
         nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1), _bn2d(ngf * 2, bn), nn.ReLU(True)]  # 16
    if spec.self_attention:
        g += [SelfAttention(ngf * 2)]
    g += [nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1), _bn2d(ngf, bn), nn.ReLU(True)]      # 32
    if spec.depth == "large":
        g += [nn.Conv2d(ngf, ngf, 3, 1, 1), _bn2d(ngf, bn), nn.ReLU(True)]
    g += [nn.ConvTranspose2d(ngf, spec.channels, 4, 2, 1), nn.Tanh()]                   # 64
    p, bn = spec.dropout, spec.bn_in_d
    d = [nn.Conv2d(spec.channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True), _dropout2d(p),  # 32
         nn.Conv2d(ndf, ndf * 2, 4, 2, 1), _bn2d(ndf * 2, bn), nn.LeakyReLU(0.2, True),   # 16
         _dropout2d(p)]
    if spec.self_attention:
        d += [SelfAttention(ndf * 2)]
    d += [nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1), _bn2d(ndf * 4, bn), nn.LeakyReLU(0.2, True),  # 8
          _dropout2d(p),
          nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1), _bn2d(ndf * 8, bn), nn.LeakyReLU(0.2, True),  # 4
          nn.Flatten()]
    return nn.Sequential(*g), nn.Sequential(*d), ndf * 8 * 4 * 4


def _mlp(spec: ModelSpec, z_in: int):
    h = int(128 * WIDTH[spec.depth])
    g = [nn.Linear(z_in, h), nn.ReLU(True), nn.Linear(h, h), nn.ReLU(True),
         nn.Linear(h, h), nn.ReLU(True), nn.Linear(h, 2)]
    d = [nn.Linear(2, h), nn.LeakyReLU(0.2, True), nn.Linear(h, h), nn.LeakyReLU(0.2, True),
         nn.Linear(h, h), nn.LeakyReLU(0.2, True)]
    if spec.dropout > 0:
        d += [nn.Dropout(spec.dropout)]
    return nn.Sequential(*g), nn.Sequential(*d), h


@dataclass(frozen=True)
class Architecture:
    """One model option: what builds it, the image size it draws and D's default dropout."""
    name: str
    build: Callable      # (spec, z_in) -> (G's body, D's feature layers, D's feature width)
    image_size: Optional[int]     # None: 2-D points
    default_dropout: float = 0.0
    about: str = ""


# The one table of models: a new model is a builder above and one line here.
ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in [
    Architecture("classroom", _classroom, 28, 0.0, "28x28, fast on a CPU"),
    Architecture("wide", _wide, 28, 0.0, "28x28, twice classroom's G, a deeper D (for a GPU)"),
    Architecture("paper", _paper, 32, 0.25, "the FLGAN authors' 32x32 DCGAN"),
    Architecture("dcgan64", _dcgan64, 64, 0.0, "Radford's 64x64 DCGAN (slow on CPU)"),
    Architecture("mlp", _mlp, None, 0.0, "a small MLP for the 2-D sets"),
]}
# Views of the table, by the names the rest of the code has long used.
IMAGE_SIZE = {n: a.image_size for n, a in ARCHITECTURES.items() if a.image_size}
DEFAULT_DROPOUT = {n: a.default_dropout for n, a in ARCHITECTURES.items()}


def _dcgan_init(m: nn.Module, zero_bias: bool = True):
    """Radford et al.: conv weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02).

    The FLGAN authors' `weights_init_normal` sets only the conv weights, so their conv biases
    keep PyTorch's default uniform init: `zero_bias=False` for the paper model."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None and zero_bias:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# Layers that get spectral norm (SAGAN: every conv and linear layer of G and D, attention's
# 1x1 convs included). D's class embedding is its projection head, so it is normalised too;
# G's label embedding only feeds a one-hot code in and is left alone.
SN_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def _add_spectral_norm(module: nn.Module, kinds: tuple = SN_LAYERS):
    for name, child in list(module.named_children()):
        if isinstance(child, kinds):
            setattr(module, name, spectral_norm(child))
        else:
            _add_spectral_norm(child, kinds)


def build_models(spec: ModelSpec) -> tuple[Generator, Discriminator]:
    if spec.model not in ARCHITECTURES:
        raise ValueError(f"model must be one of {', '.join(ARCHITECTURES)}; got {spec.model!r}")
    if not 1 <= spec.latent_dim <= 1000:
        raise ValueError(f"latent_dim must be from 1 to 1000; got {spec.latent_dim}")
    if spec.model != "mlp" and spec.channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {spec.channels}")
    if spec.clusters and (spec.num_classes or spec.model == "mlp"):
        raise ValueError("clusters are for unconditional image models (a CGAN has labels)")
    g_body, d_features, feat = ARCHITECTURES[spec.model].build(
        spec, spec.latent_dim + spec.conditions)
    G, D = Generator(spec, g_body), Discriminator(spec, d_features, feat)
    if spec.model != "mlp":
        zero_bias = spec.model != "paper"
        G.apply(lambda m: _dcgan_init(m, zero_bias))
        D.apply(lambda m: _dcgan_init(m, zero_bias))
    if spec.spectral_norm_g:
        _add_spectral_norm(G)
    if spec.spectral_norm_d:
        _add_spectral_norm(D, SN_LAYERS + (nn.Embedding,))
    return G, D


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())

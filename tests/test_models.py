"""Generators and discriminators: shapes, ranges, options."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from gan_core.config import TrainConfig
from gan_core.models import (DEFAULT_DROPOUT, ModelSpec, SelfAttention, build_models,
                             count_parameters)
from gan_core.shape import spec_for

SIZES = {"classroom": 28, "wide": 28, "paper": 32, "dcgan64": 64}
ALL_MODELS = ["classroom", "wide", "paper", "dcgan64", "mlp"]


def forward(spec: ModelSpec, batch: int = 3, labels=None):
    torch.manual_seed(0)
    G, D = build_models(spec)
    z = torch.randn(batch, spec.latent_dim)
    x = G(z, labels)
    return G, D, x, D(x, labels)


def expected_shape(model: str, batch: int, channels: int = 1):
    return (batch, 2) if model == "mlp" else (batch, channels, SIZES[model], SIZES[model])


@pytest.mark.parametrize("model", ALL_MODELS)
def test_shapes_and_ranges(model):
    """G maps (B, latent) to samples of the model's size, in [-1, 1] for images (tanh);
    D maps samples to one logit each, shape (B,)."""
    spec = ModelSpec(model=model, latent_dim=16, depth="small")
    G, D, x, logits = forward(spec, batch=3)
    assert x.shape == expected_shape(model, 3) == (3,) + spec.sample_shape
    if model != "mlp":
        assert float(x.detach().min()) >= -1.0 and float(x.detach().max()) <= 1.0
        assert isinstance(list(G.modules())[-1], nn.Tanh)
    assert logits.shape == (3,)
    assert torch.isfinite(logits).all()
    assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())   # raw logits


@pytest.mark.parametrize("model", ["classroom", "mlp"])
@pytest.mark.parametrize("latent_dim", [1, 1000])
def test_extreme_latent_dims(model, latent_dim):
    """latent_dim 1 (mode collapse lesson) and 1000 (the FLGAN text) both build and run."""
    spec = ModelSpec(model=model, latent_dim=latent_dim, depth="small")
    _, _, x, logits = forward(spec, batch=2)
    assert x.shape == expected_shape(model, 2)
    assert logits.shape == (2,)


def test_latent_dim_out_of_range():
    """build_models rejects bad latent sizes, models and channel counts."""
    with pytest.raises(ValueError, match="latent_dim"):
        build_models(ModelSpec(latent_dim=0))
    with pytest.raises(ValueError, match="latent_dim"):
        build_models(ModelSpec(latent_dim=1001))
    with pytest.raises(ValueError, match="model"):
        build_models(ModelSpec(model="nosuch"))
    with pytest.raises(ValueError, match="channels"):
        build_models(ModelSpec(channels=2))


@pytest.mark.parametrize("model", ["classroom", "wide", "paper", "dcgan64"])
def test_three_channels(model):
    """Image models produce and judge RGB images."""
    spec = ModelSpec(model=model, latent_dim=8, channels=3, depth="small")
    _, _, x, logits = forward(spec, batch=2)
    assert x.shape == expected_shape(model, 2, channels=3)
    assert logits.shape == (2,)


@pytest.mark.parametrize("model", ALL_MODELS)
def test_depth_orders_generator_size(model):
    """small < medium < large in generator parameters."""
    counts = [count_parameters(build_models(ModelSpec(model=model, latent_dim=8, depth=d))[0])
              for d in ("small", "medium", "large")]
    assert counts[0] < counts[1] < counts[2]


@pytest.mark.parametrize("model", ["classroom", "wide", "paper", "dcgan64"])
def test_batch_norm_off(model):
    """batch_norm=False leaves no batch-norm layer in G or D."""
    on = build_models(ModelSpec(model=model, latent_dim=8, depth="small"))
    off = build_models(ModelSpec(model=model, latent_dim=8, depth="small", batch_norm=False))
    is_bn = lambda m: isinstance(m, nn.modules.batchnorm._BatchNorm)  # noqa: E731
    assert any(is_bn(m) for net in on for m in net.modules())
    assert not any(is_bn(m) for net in off for m in net.modules())
    x = off[0](torch.randn(2, 8))
    assert off[1](x).shape == (2,)


@pytest.mark.parametrize("model", ["classroom", "wide", "paper", "dcgan64"])
def test_self_attention(model):
    """SAGAN blocks are added to G and D, and the models still run end to end."""
    spec = ModelSpec(model=model, latent_dim=8, depth="small", self_attention=True)
    G, D, x, logits = forward(spec, batch=2)
    assert any(isinstance(m, SelfAttention) for m in G.modules())
    assert any(isinstance(m, SelfAttention) for m in D.modules())
    assert x.shape == expected_shape(model, 2) and logits.shape == (2,)
    plain_G, _ = build_models(ModelSpec(model=model, latent_dim=8, depth="small"))
    assert not any(isinstance(m, SelfAttention) for m in plain_G.modules())


def test_self_attention_block_is_identity_at_start_and_learns():
    """gamma starts at 0 (identity); with gamma != 0 the output depends on other positions."""
    torch.manual_seed(0)
    block = SelfAttention(16)
    x = torch.randn(2, 16, 5, 5)
    assert torch.equal(block(x), x)
    with torch.no_grad():
        block.gamma.fill_(1.0)
    y = block(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.sum().backward()
    assert block.query.weight.grad is not None


def _has_sn(module) -> bool:
    return any(parametrize.is_parametrized(m) for m in module.modules())


@pytest.mark.parametrize("model", ["classroom", "paper", "dcgan64", "mlp"])
def test_spectral_norm_on_g_and_on_d_separately(model):
    """spectral_norm_d wraps D's layers only, spectral_norm_g G's only (every conv, transposed
    conv and linear layer: SAGAN normalises G too), and both still train."""
    for on_g, on_d in ((False, True), (True, False), (True, True)):
        spec = ModelSpec(model=model, latent_dim=8, depth="small", spectral_norm_g=on_g,
                         spectral_norm_d=on_d, self_attention=model != "mlp")
        G, D, x, logits = forward(spec, batch=4)
        assert _has_sn(G) == on_g and _has_sn(D) == on_d
        if on_g:
            plain = [m for m in G.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d,
                                                              nn.Linear))
                     and not parametrize.is_parametrized(m)]
            assert not plain, f"G layers without spectral norm: {plain}"
        assert torch.isfinite(logits).all()
        (logits.sum() + x.sum()).backward()          # trainable through the parametrisation


@pytest.mark.parametrize("model", ["classroom", "paper", "dcgan64"])
def test_batch_norm_d_off_removes_d_batch_norm_and_keeps_g_batch_norm(model):
    """SAGAN's D has spectral norm and no batch norm; its G keeps batch norm."""
    bn = lambda m: any(isinstance(x, nn.BatchNorm2d) for x in m.modules())  # noqa: E731
    G, D = build_models(ModelSpec(model=model, latent_dim=8, depth="small", batch_norm_d=False))
    assert bn(G) and not bn(D)
    G, D = build_models(ModelSpec(model=model, latent_dim=8, depth="small"))
    assert bn(G) and bn(D)
    G, D = build_models(ModelSpec(model=model, latent_dim=8, depth="small", batch_norm=False))
    assert not bn(G) and not bn(D)


def test_old_spectral_norm_field_means_d_only():
    """Files from before the split say spectral_norm, which put it on D only (with D's batch
    norm kept): they are read as spectral_norm_d, the same model as before."""
    from gan_core.checkpoint import spec_from_dict
    spec = spec_from_dict(dict(model="classroom", latent_dim=8, spectral_norm=True))
    assert spec.spectral_norm_d and not spec.spectral_norm_g and spec.bn_in_d
    cfg = TrainConfig.from_dict(dict(spectral_norm=True))
    assert cfg.spectral_norm_d and not cfg.spectral_norm_g and cfg.batch_norm_d


@pytest.mark.parametrize("model", ["classroom", "mlp"])
def test_conditional_models_need_and_use_labels(model):
    """A conditional G and D refuse to run without labels and respond to them."""
    spec = ModelSpec(model=model, latent_dim=8, depth="small", num_classes=10)
    torch.manual_seed(0)
    G, D = build_models(spec)
    G.eval(), D.eval()
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match="conditional"):
        G(z)
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    x0, x1 = G(z, y0), G(z, y1)
    assert not torch.allclose(x0, x1)
    with pytest.raises(ValueError, match="conditional"):
        D(x0)
    # D's projection starts at zero (D starts unconditional) and learns to use the label
    assert torch.equal(D(x0, y0), D(x0, y1))
    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    (-D(x0.detach(), y0).mean()).backward()
    opt.step()
    assert not torch.allclose(D(x0, y0), D(x0, y1))


@pytest.mark.parametrize("kind", [dict(num_classes=10), dict(clusters=10)])
def test_projection_head_starts_at_zero_and_spectral_norm_keeps_its_start(kind):
    """A conditional D's first logits are its unconditional head's: PyTorch's N(0, 1) start
    made the projection term dominate them (losses of 30-50 at step 1 on MNIST). Under spectral
    norm the embedding keeps a start it can be normalised by (a zero matrix gives 0/0)."""
    torch.manual_seed(0)
    G, D = build_models(ModelSpec(model="classroom", latent_dim=16, **kind))
    D.eval()
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    y = torch.arange(8)
    assert torch.count_nonzero(D.embed.weight) == 0
    assert torch.equal(D(x, y), D.head(D.features(x)).squeeze(1))
    torch.manual_seed(0)
    G, D = build_models(ModelSpec(model="classroom", latent_dim=16, spectral_norm_d=True, **kind))
    D.eval()
    out = D(x, y)
    assert torch.isfinite(out).all()
    assert not torch.allclose(out, D.head(D.features(x)).squeeze(1))


def test_paper_model_dropout_default(image_dataset):
    """The FLGAN code's D uses Dropout2d(0.25); spec_for applies it unless dropout is set."""
    assert DEFAULT_DROPOUT["paper"] == 0.25
    ds = image_dataset.to_image_shape(1, 32)
    spec = spec_for(TrainConfig(model="paper"), ds)
    assert spec.dropout == 0.25
    _, D = build_models(spec)
    drops = [m for m in D.modules() if isinstance(m, nn.Dropout2d)]
    assert drops and all(m.p == 0.25 for m in drops)
    # an explicit dropout wins; 0 removes the layers
    assert spec_for(TrainConfig(model="paper", dropout=0.0), ds).dropout == 0.0
    _, D0 = build_models(spec_for(TrainConfig(model="paper", dropout=0.0), ds))
    assert not any(isinstance(m, nn.Dropout2d) for m in D0.modules())
    # the classroom model has none by default
    _, Dc = build_models(spec_for(TrainConfig(model="classroom"), image_dataset))
    assert not any(isinstance(m, nn.Dropout2d) for m in Dc.modules())


def test_spec_for_uses_dataset_channels_and_classes(image_dataset, ring_dataset):
    """spec_for takes channels and class count from the dataset."""
    spec = spec_for(TrainConfig(conditional=True), image_dataset)
    assert spec.num_classes == 10 and spec.channels == 1
    rgb = image_dataset.to_image_shape(3, 28)
    assert spec_for(TrainConfig(), rgb).channels == 3
    assert spec_for(TrainConfig(dataset="ring", model="mlp"), ring_dataset).num_classes == 0


def test_dcgan_init_on_image_models():
    """Conv weights ~ N(0, 0.02) (Radford et al.)."""
    torch.manual_seed(0)
    G, _ = build_models(ModelSpec(model="dcgan64", latent_dim=100))
    w = torch.cat([m.weight.detach().flatten() for m in G.modules()
                   if isinstance(m, nn.ConvTranspose2d)])
    assert abs(float(w.std()) - 0.02) < 0.002
    assert abs(float(w.mean())) < 0.002


@pytest.mark.parametrize("depth, attention, channels", [("medium", False, 1),
                                                        ("large", True, 3)])
def test_paper_generator_folds_upsampling_exactly(depth, attention, channels):
    """The paper G runs each Upsample + 3x3 conv pair as one folded transposed convolution:
    the same output and the same parameter gradients as its layers run one by one, and the
    same state_dict keys (old checkpoints load)."""
    torch.manual_seed(0)
    G, _ = build_models(ModelSpec(model="paper", depth=depth, self_attention=attention,
                                  channels=channels))
    plain = nn.Sequential(*G.body)
    assert list(plain.state_dict()) == list(G.body.state_dict())
    z = torch.randn(5, 100)
    x, ref = G(z), plain(z)
    assert torch.allclose(x, ref, atol=1e-5)
    assert x.is_contiguous()                                 # NCHW out, like nn.Sequential
    params = list(G.parameters())
    grads = torch.autograd.grad((x * ref.detach()).sum(), params)
    ref_grads = torch.autograd.grad((ref * ref.detach()).sum(), params)
    scale = max(float(r.abs().max()) for r in ref_grads)   # conv biases before batch norm
    for g, r in zip(grads, ref_grads):                       # get ~0: compare on one scale
        # Single-threaded oneDNN sums the folded weight gradients in another order: relative
        # differences up to ~3e-3 of the tensor's own largest entry. A wrong fold is off by O(1).
        tol = 1e-5 * scale + 5e-3 * float(r.abs().max())
        assert torch.allclose(g, r, rtol=1e-4, atol=tol)
    # eval mode also folds the batch norm after each pair: still the same function
    with torch.no_grad():
        for _ in range(3):                                   # running stats away from 0 / 1
            G(torch.randn(16, 100) * 2 + 1)
    G.eval()
    with torch.no_grad():
        assert torch.allclose(G(z), plain(z), atol=1e-5)


def test_paper_model_is_the_flgan_authors_network():
    """Layer for layer the authors' flgan.py/dcgan.py generator: no batch norm after the Linear
    layer, BatchNorm2d(c, 0.8) (eps 0.8) after each conv, and conv biases left at PyTorch's
    default init rather than zeroed (their weights_init_normal sets only the weights)."""
    torch.manual_seed(0)
    G, D = build_models(ModelSpec(model="paper", latent_dim=100))
    kinds = [type(m).__name__ for m in G.body]
    assert kinds == ["Linear", "Unflatten", "Upsample", "Conv2d", "BatchNorm2d", "LeakyReLU",
                     "Upsample", "Conv2d", "BatchNorm2d", "LeakyReLU", "Conv2d", "Tanh"]
    assert [m.eps for m in G.body if isinstance(m, nn.BatchNorm2d)] == [0.8, 0.8]
    assert G.body[0].out_features == 128 * 8 * 8
    for net in (G, D):
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                assert m.bias is not None and float(m.bias.detach().abs().max()) > 0
                assert abs(float(m.weight.detach().std()) - 0.02) < 0.01
    # D: four stride-2 3x3 blocks, 16-32-64-128, batch norm (eps 0.8) on all but the first.
    convs = [m for m in D.features if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.stride) for c in convs] == [(16, (2, 2)), (32, (2, 2)),
                                                          (64, (2, 2)), (128, (2, 2))]
    assert [m.eps for m in D.features if isinstance(m, nn.BatchNorm2d)] == [0.8, 0.8, 0.8]

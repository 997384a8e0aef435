"""The inside-the-game data (gan_core.probes, gan_core.stepper): the numbers the views draw."""
import math

import pytest
import torch

from gan_core.config import TrainConfig
from gan_core.losses import LOSSES, get_loss
from gan_core.models import ModelSpec, build_models
from gan_core.probes import (MESH_RES, arrows, latent_grid, manifold, mode_counts, nearest_real,
                             rank_by_d, sample_gradients)
from gan_core.stepper import Stepper, d_formula, g_formula


def _mlp(latent_dim=2, seed=0):
    torch.manual_seed(seed)
    return build_models(ModelSpec(model="mlp", latent_dim=latent_dim))


def test_mesh_has_one_vertex_per_grid_point_and_each_is_g_of_that_point():
    G, _ = _mlp(2)
    mesh = manifold(G, 2)
    assert mesh.shape == (MESH_RES, MESH_RES, 2)
    z, shape = latent_grid(2)
    assert shape == (MESH_RES, MESH_RES) and len(z) == MESH_RES ** 2
    with torch.no_grad():
        expected = G.eval()(z).view(MESH_RES, MESH_RES, 2)
    assert torch.allclose(mesh, expected, atol=1e-6)
    # row i holds latent y = axis[i], column j latent x = axis[j]
    assert z[MESH_RES + 3, 0] == z[3, 0] and z[MESH_RES, 1] > z[0, 1]


def test_latent_1_draws_a_curve_and_larger_latents_a_slice_through_zero():
    G1, _ = _mlp(1)
    curve = manifold(G1, 1)
    z1, _ = latent_grid(1)
    with torch.no_grad():
        assert torch.allclose(curve, G1.eval()(z1), atol=1e-6)
    assert curve.dim() == 2 and curve.shape[1] == 2
    z5, shape = latent_grid(5, resolution=7)
    assert shape == (7, 7) and z5.shape == (49, 5) and bool((z5[:, 2:] == 0).all())
    G5, _ = _mlp(5)
    assert manifold(G5, 5, resolution=7).shape == (7, 7, 2)
    with pytest.raises(ValueError, match="latent_dim"):
        latent_grid(0)


@pytest.mark.parametrize("loss_name", list(LOSSES))
def test_sample_gradient_is_each_samples_own_loss_gradient(loss_name):
    _, D = _mlp()
    loss = get_loss(loss_name)
    x = torch.randn(16, 2)
    grads, logits = sample_gradients(D, loss, x)
    assert all(p.grad is None for p in D.parameters())          # D's weights untouched
    for i in (0, 7, 15):
        xi = x[i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss.g(D.eval()(xi)), xi)
        assert torch.allclose(grads[i], g[0], atol=1e-5)
    assert torch.allclose(logits, D(x).detach(), atol=1e-6)


def test_arrows_point_along_minus_the_gradient_thinned_and_scaled():
    pts = torch.randn(512, 2)
    grads = torch.randn(512, 2)
    grads[8] = 0                                                  # no push: no arrow
    starts, ends, idx = arrows(pts, grads, max_arrows=64, max_len=0.5)
    assert len(idx) <= 64 and 8 not in idx.tolist()
    assert idx.tolist() == [i for i in range(0, 512, 8) if i != 8]
    assert torch.equal(starts, pts[idx])
    d = ends - starts
    unit = -grads[idx] / grads[idx].norm(dim=1, keepdim=True)
    assert torch.allclose(d / d.norm(dim=1, keepdim=True), unit, atol=1e-5)
    assert float(d.norm(dim=1).max()) == pytest.approx(0.5)
    # lengths keep the ratios of the gradients' sizes
    ratio = d.norm(dim=1) / grads[idx].norm(dim=1)
    assert torch.allclose(ratio, ratio[0].expand_as(ratio), rtol=1e-4)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        arrows(pts, grads[:10])


def test_rank_by_d_and_mode_counts():
    d = torch.tensor([0.2, 0.9, 0.5, 0.1, 0.7])
    most, least = rank_by_d(d, 2)
    assert most == [1, 4] and least == [3, 0]
    counts = mode_counts(torch.tensor([0, 3, 3, 9, 3]), 10)
    assert counts == [1, 0, 0, 3, 0, 0, 0, 0, 0, 1] and sum(counts) == 5
    with pytest.raises(ValueError):
        mode_counts(torch.tensor([0]), 0)


def test_nearest_real_finds_the_copy_and_measures_the_distance():
    data = torch.randint(0, 256, (50, 1, 8, 8), dtype=torch.uint8)
    copy = data[[7, 21]].clone()
    idx, dist = nearest_real(copy, data, chunk=16)
    assert idx.tolist() == [7, 21] and dist.tolist() == [0.0, 0.0]
    shifted = data[3:4].float() / 127.5 - 1 + 0.2             # every pixel 0.1 brighter (0..1)
    idx, dist = nearest_real(shifted, data)
    assert idx.item() == 3 and dist.item() == pytest.approx(0.1, abs=1e-4)
    with pytest.raises(ValueError, match="differ in size"):
        nearest_real(torch.zeros(1, 1, 4, 4), data)


def test_every_snapshot_of_a_2d_run_carries_the_probe_of_its_weights():
    from gan_core.probes import attach
    from gan_core.trainer import Trainer
    cfg = TrainConfig(dataset="ring", model="mlp", latent_dim=2, max_steps=20, sample_every=10,
                      device="cpu")
    bare = Trainer(cfg)
    bare.run()              # nobody watches: no views' data is computed
    assert all(s.probe is None and s.d_map is None for s in bare.snapshots)
    tr = Trainer(cfg)
    attach(tr)
    tr.run()
    assert all(torch.equal(a.samples, b.samples) for a, b in zip(bare.snapshots, tr.snapshots))
    assert [s.step for s in tr.snapshots] == [0, 10, 20]
    snap = tr.snapshots[-1]
    p = snap.probe
    assert p.mesh.shape == (MESH_RES, MESH_RES, 2) and p.grads.shape == snap.samples.shape
    assert torch.allclose(p.mesh, manifold(tr.sample_G, 2), atol=1e-6)
    grads, logits = sample_gradients(tr.D, tr.loss, snap.samples)
    assert torch.allclose(p.grads, grads, atol=1e-5)
    assert torch.allclose(p.d_out, torch.sigmoid(logits), atol=1e-6)
    assert p.g_loss == pytest.approx(float(tr.loss.g(logits)), rel=1e-5)


def test_stepper_refuses_image_data_with_a_clear_message():
    with pytest.raises(ValueError, match="2-D sets"):
        Stepper(TrainConfig(dataset="mnist"))


def _params(m):
    return [p.detach().clone() for p in m.parameters()]


@pytest.mark.parametrize("loss_name", ["nonsaturating", "hinge", "wgan-gp"])
def test_a_d_step_changes_only_d_and_a_g_step_only_g(loss_name):
    s = Stepper(TrainConfig(dataset="ring", model="mlp", latent_dim=2, loss=loss_name,
                            batch_size=64, device="cpu"))
    g0, d0 = _params(s.G), _params(s.D)
    r = s.d_step()
    assert all(torch.equal(a, b) for a, b in zip(g0, _params(s.G)))
    assert any(not torch.equal(a, b) for a, b in zip(d0, _params(s.D)))
    assert torch.equal(r.before.samples, r.after.samples)             # the points stay
    assert not torch.equal(r.before.d_map[1], r.after.d_map[1])       # D's map moves
    assert r.numbers["loss_after"] < r.numbers["loss_before"]
    g1, d1 = _params(s.G), _params(s.D)
    r = s.g_step()
    assert all(torch.equal(a, b) for a, b in zip(d1, _params(s.D)))
    assert any(not torch.equal(a, b) for a, b in zip(g1, _params(s.G)))
    assert torch.equal(r.before.d_map[1], r.after.d_map[1])           # the map stays
    moved = r.after.samples - r.before.samples
    assert float(moved.norm(dim=1).mean()) == pytest.approx(r.numbers["moved"])
    # on the whole the points move along their arrows (minus the gradient of G's loss)
    cos = torch.nn.functional.cosine_similarity(moved, -r.before.grads, dim=1)
    assert float(cos.mean()) > 0.3
    assert r.numbers["loss_after"] < r.numbers["loss_before"]


def test_the_formula_shows_the_numbers_that_add_up_to_the_loss():
    s = Stepper(TrainConfig(dataset="ring", model="mlp", latent_dim=2, batch_size=64,
                            device="cpu"))
    r = s.d_step()
    assert f"{r.numbers['loss_before']:.3f}" in r.latex and r"\log D(x)" in r.latex
    real, fake = torch.randn(32), torch.randn(32)
    for name in LOSSES:         # every loss, from its own definition: nothing to keep in step
        loss = get_loss(name, gamma=3.0)
        latex, value = d_formula(loss, real, fake, penalty=0.5, weight=10.0)
        want = float(loss.d(real, fake)) + (10.0 * 0.5 if loss.spec.gradient_penalty else 0.0)
        assert value == pytest.approx(want, abs=1e-5), name
        assert rf"\mathbf{{{value:.3f}}}" in latex and r"\gamma" not in latex, name
        g_latex, g_value = g_formula(loss, fake)
        assert g_value == pytest.approx(float(loss.g(fake))) and f"{g_value:.3f}" in g_latex
    assert "3" in d_formula(get_loss("focal", gamma=3.0), real, fake)[0].split("=")[1]
    r = s.g_step()
    assert f"{r.numbers['loss_before']:.3f}" in r.latex and "L_G" in r.latex
    assert math.isfinite(r.numbers["d_fake"])

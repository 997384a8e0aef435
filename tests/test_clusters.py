"""Cluster conditioning: k-means on the training images, G picking a cluster from z[0], D from
the image, the trainer wiring them, and files that carry them (or lie about them)."""
from __future__ import annotations

import pytest
import torch

from gan_core import clusters
from gan_core import probes as views
from gan_core.checkpoint import load_checkpoint, save_checkpoint
from gan_core.config import preset
from gan_core.data import Dataset
from gan_core.models import ModelSpec, build_models
from gan_core.schema import CheckpointError
from gan_core.trainer import Trainer


def three_kinds(n_each: int = 300, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (3 * n_each, 1, 28, 28) of three shapes with pixel noise, and their kind."""
    g = torch.Generator().manual_seed(seed)
    shapes = torch.zeros(3, 28, 28)
    shapes[0, 4:24, 12:16] = 255          # a bar
    shapes[1, 12:16, 4:24] = 255          # a dash
    shapes[2, 6:22, 6:22] = 255           # a square
    kind = torch.arange(3).repeat_interleave(n_each)
    noise = torch.randint(0, 60, (len(kind), 28, 28), generator=g).float()
    x = (shapes[kind] * 0.8 + noise).clamp(0, 255).to(torch.uint8).unsqueeze(1)
    return x, kind


def to_unit(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1


def test_kmeans_finds_three_kinds_of_image_without_labels():
    x, kind = three_kinds()
    centres = clusters.kmeans(to_unit(x), 3, seed=0)
    assigned = clusters.nearest(to_unit(x), centres)
    # each kind lands in one cluster of its own (whatever the clusters' order)
    for k in range(3):
        assert assigned[kind == k].unique().numel() == 1
    assert assigned.unique().numel() == 3
    assert torch.equal(clusters.kmeans(to_unit(x), 3, seed=0), centres)     # seeded
    assert clusters.shares(assigned, 3).tolist() == pytest.approx([1 / 3] * 3)


def test_how_many_clusters_a_run_uses():
    assert clusters.clusters_for(50, 10_000, 100) == 50
    assert clusters.clusters_for(50, 8_000, 100) == 50          # MNIST's training part
    assert clusters.clusters_for(50, 4_000, 100) == 25          # one per 160 images at most
    assert clusters.clusters_for(50, 320, 100) == 2
    assert clusters.clusters_for(50, 319, 100) == 0             # fewer than 2 would remain
    assert clusters.clusters_for(None, 10_000, 100) == 0
    assert clusters.clusters_for(50, 10_000, 1) == 0            # the collapse lessons
    assert clusters.clusters_for(50, 10_000, 7) == 0
    assert clusters.clusters_for(50, 10_000, 8) == 50


def test_generator_draws_each_cluster_as_often_as_its_share():
    torch.manual_seed(0)
    G, D = build_models(ModelSpec(latent_dim=16, clusters=3))
    G.eval()
    G.set_cluster_shares(torch.tensor([0.7, 0.2, 0.1]))
    z = torch.randn(30_000, 16, generator=torch.Generator().manual_seed(1))
    drawn = torch.bincount(G.cluster_of(z), minlength=3).float() / len(z)
    assert drawn.tolist() == pytest.approx([0.7, 0.2, 0.1], abs=0.01)
    # z[0] alone picks the cluster: low values the first, high values the last
    probe = torch.zeros(3, 16)
    probe[:, 0] = torch.tensor([-3.0, 0.8, 3.0])
    assert G.cluster_of(probe).tolist() == [0, 1, 2]
    with torch.no_grad():       # unconditional to its callers: G(z) is G(z, its own clusters)
        assert torch.equal(G(z[:8]), G(z[:8], G.cluster_of(z[:8])))
        other = G(z[:8], (G.cluster_of(z[:8]) + 1) % 3)
        assert not torch.allclose(G(z[:8]), other)


def test_discriminator_finds_a_real_image_cluster_itself():
    x, kind = three_kinds(20)
    torch.manual_seed(0)
    _, D = build_models(ModelSpec(latent_dim=16, clusters=3))
    D.eval()
    centres = clusters.kmeans(to_unit(x), 3)
    D.cluster_centres.copy_(centres)
    real = to_unit(x)
    assert torch.equal(D.cluster_of(real), clusters.nearest(real, centres))
    with torch.no_grad():
        assert torch.equal(D(real), D(real, D.cluster_of(real)))


def test_a_cluster_model_cannot_also_be_conditional_or_a_point_model():
    with pytest.raises(ValueError, match="clusters"):
        build_models(ModelSpec(num_classes=10, clusters=5))
    with pytest.raises(ValueError, match="clusters"):
        build_models(ModelSpec(model="mlp", latent_dim=2, channels=1, clusters=5))


def cluster_run(**overrides) -> Trainer:
    x, _ = three_kinds(300)
    ds = Dataset("synthetic", x, None, [], "three kinds of image")
    cfg = preset("dcgan", **{**dict(model="classroom", dataset="mnist", depth="small",
                                    batch_size=32, device="cpu", download=False, seed=0,
                                    sample_every=1000, n_samples=16, max_steps=4,
                                    latent_dim=16, clusters=3), **overrides})
    return Trainer(cfg, ds)


def test_the_classroom_recipe_conditions_on_50_clusters_and_the_lessons_do_not():
    assert preset("dcgan", model="classroom").clusters == 50
    assert preset("flgan", model="classroom").clusters == 50
    assert preset("flgan", model="paper").clusters is None        # the paper comparison
    x, _ = three_kinds(4_000)                                      # 12,000 images: room for 50
    ds = Dataset("synthetic", x, torch.arange(len(x)) % 10, [str(i) for i in range(10)], "")
    base = dict(model="classroom", dataset="mnist", device="cpu", download=False,
                max_steps=1, sample_every=1000)
    assert Trainer(preset("dcgan", **base), ds).spec.clusters == 50
    assert Trainer(preset("dcgan", latent_dim=1, **base), ds).spec.clusters == 0
    assert Trainer(preset("dcgan", latent_dim=2, **base), ds).spec.clusters == 0
    cgan = Trainer(preset("dcgan", conditional=True, **base), ds)
    assert cgan.spec.clusters == 0 and cgan.spec.num_classes == 10


def test_trainer_fits_the_clusters_and_trains_on_them():
    tr = cluster_run()
    assert tr.spec.clusters == 3
    # D holds the centres of the three kinds, G their shares (a third each)
    real = to_unit(tr.dataset.data)
    assigned = tr.D.cluster_of(real)
    assert sorted(torch.bincount(assigned, minlength=3).tolist()) == [300, 300, 300]
    assert tr.G.cluster_edges.tolist() == pytest.approx([1 / 3, 2 / 3, 1.0], abs=1e-6)
    assert torch.equal(tr.fixed_labels, tr.G.cluster_of(tr.fixed_noise))
    # D is shown each real image with its own cluster, and each fake with the one G drew
    seen = []
    original = type(tr.D).forward

    def spy(self, x, labels=None):
        seen.append((x.detach().clone(), None if labels is None else labels.clone()))
        return original(self, x, labels)
    views.attach(tr)                    # the views' probes, as the app's workers attach them
    type(tr.D).forward = spy
    try:
        assert tr.run() == "stopped" and tr.step == 4
    finally:
        type(tr.D).forward = original
    assert all(labels is not None for _, labels in seen)
    # Real batches (32 images, pixels on the uint8 grid) came with their nearest centre's
    # cluster; the views' probes of the fixed samples (16, also uint8) with the clusters G drew.
    on_grid = [(x, y) for x, y in seen
               if torch.allclose((x + 1) * 127.5, ((x + 1) * 127.5).round(), atol=1e-3)]
    real_calls = [(x, y) for x, y in on_grid if len(x) == 32]
    probes = [(x, y) for x, y in on_grid if len(x) == 16]
    assert len(real_calls) == 4 and probes
    for x, y in real_calls:
        assert torch.equal(y, tr.D.cluster_of(x))
    for x, y in probes:
        assert torch.equal(y, tr.fixed_labels)


def test_cluster_files_round_trip_and_sample_without_labels(tmp_path):
    tr = cluster_run()
    tr.run()
    full, shipped = tmp_path / "full.pt", tmp_path / "shipped.pt"
    save_checkpoint(tr, full)
    save_checkpoint(tr, shipped, generator_only=True, half=True)
    for path in (full, shipped):
        ck = load_checkpoint(path)
        assert ck.spec.clusters == 3
        assert ck.G.cluster_edges.tolist() == pytest.approx([1 / 3, 2 / 3, 1.0], abs=1e-3)
        z = torch.randn(6, 16, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            x = ck.G(z).float()
        assert x.shape == (6, 1, 28, 28) and torch.isfinite(x).all()
    ck = load_checkpoint(full)
    assert torch.equal(ck.D.cluster_centres, tr.D.cluster_centres.cpu())
    # a resumed run keeps the clusters the file holds
    again = cluster_run(max_steps=6)
    again.load_state_dict(torch.load(full, weights_only=True), str(full))
    assert torch.equal(again.D.cluster_centres, tr.D.cluster_centres)
    assert again.run() == "stopped" and again.step == 6


def test_a_file_whose_spec_claims_clusters_its_config_did_not_ask_for_is_refused(tmp_path):
    tr = cluster_run()
    path = tmp_path / "liar.pt"
    save_checkpoint(tr, path)
    obj = torch.load(path, weights_only=True)
    obj["config"]["clusters"] = None
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="clusters"):
        load_checkpoint(path)
    obj["config"]["clusters"] = 3
    obj["spec"]["clusters"] = 10**6
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="clusters"):
        load_checkpoint(path)


def test_nonsense_cluster_edges_in_a_file_still_draw_valid_clusters(tmp_path):
    """Edges are data from the file: whatever they hold (finite), every z draws a cluster that
    exists, never an index past the embedding."""
    tr = cluster_run()
    path = tmp_path / "odd.pt"
    save_checkpoint(tr, path, generator_only=True)
    obj = torch.load(path, weights_only=True)
    obj["generator"]["cluster_edges"] = torch.tensor([-5.0, -4.0, -3.0])   # below every Phi(z)
    torch.save(obj, path)
    G = load_checkpoint(path).G
    z = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    assert G.cluster_of(z).max().item() == 2
    with torch.no_grad():
        assert torch.isfinite(G(z)).all()


def test_a_paper_preset_link_trains_without_clusters():
    """The app starts from the classroom recipe (clusters on); a link to the paper preset must
    give the papers' recipe exactly, so the preset switches the clusters off."""
    from lab_app.settings import config_from_params
    cfg, errors = config_from_params({"dataset": "mnist", "preset": "flgan", "model": "paper"})
    assert not errors and cfg.model == "paper" and cfg.clusters is None
    cfg, _ = config_from_params({"dataset": "mnist", "preset": "flgan"})
    assert cfg.model == "classroom" and cfg.clusters == 50
    cfg, errors = config_from_params({"dataset": "mnist", "clusters": "0"})
    assert not errors and cfg.clusters is None
    cfg, errors = config_from_params({"dataset": "mnist", "clusters": "20"})
    assert not errors and cfg.clusters == 20


def test_faint_thin_images_cluster_by_shape_not_with_each_other():
    """In raw pixels a faint, thin stroke of any shape is nearest the almost empty image, so
    k-means made one cluster of all faint digits (a blob for G to learn). Blurred and scaled to
    unit length, a faint thin bar sits with the bars, a faint thin dash with the dashes."""
    g = torch.Generator().manual_seed(0)
    n = 100
    bold, faint = torch.zeros(3, 28, 28), torch.zeros(3, 28, 28)
    bold[0, 4:24, 12:15], faint[0, 4:24, 13] = 255, 70          # bar
    bold[1, 12:15, 4:24], faint[1, 13, 4:24] = 255, 70          # dash
    bold[2, 4:24, 4:24] = 255                                   # a square ...
    bold[2, 7:21, 7:21] = 0                                     # ... outline, 3 pixels wide
    faint[2, 5, 5:23] = faint[2, 22, 5:23] = faint[2, 5:23, 5] = faint[2, 5:23, 22] = 70
    shapes = torch.cat([bold, faint])                           # (6, 28, 28)
    kind = torch.arange(6).repeat_interleave(n)
    noise = torch.randint(0, 4, (len(kind), 28, 28), generator=g).float()   # MNIST's clean
    x = to_unit((shapes[kind] + noise).clamp(0, 255).unsqueeze(1))         # background
    for seed in range(3):
        assigned = clusters.nearest(x, clusters.kmeans(x, 3, seed=seed))
        for shape in range(3):                 # bold and faint of one shape: one cluster
            both = assigned[(kind == shape) | (kind == shape + 3)]
            assert both.unique().numel() == 1, (seed, shape)
        assert assigned.unique().numel() == 3

"""The Dirac-GAN (gan_core.dirac): its closed-form gradients against torch autograd on the lab's
own losses and penalties, the instance noise's quadrature against a Monte Carlo estimate, and
what the paths do (Mescheder et al. 2018), checked on several start points and learning rates."""
import math

import numpy as np
import pytest
import torch

from gan_core import dirac
from gan_core.dirac import DiracSettings, Game, summary, trajectory
from gan_core.losses import LOSSES, get_loss, gradient_penalty, r1_penalty

# Away from psi = 0 (where |psi| has no derivative) and from hinge's margins (psi theta = +-1).
POINTS = [(1.0, 1.0), (0.5, -0.7), (-1.5, 0.3), (2.2, -1.9), (-0.3, -2.5)]
REGULARISERS = [dict(), dict(r1=0.7), dict(gp=0.3), dict(r1=2.0, gp=1.5)]


def autograd_game(loss, theta, psi, r1=0.0, gp=0.0, real=None, fake_noise=None):
    """(dL_G/dtheta, dL_D/dpsi) of the Dirac-GAN by autograd through the lab's own functions:
    D(x) = psi x, G = theta, real data at 0, the trainer's r1_penalty and gradient_penalty."""
    th = torch.tensor([theta], dtype=torch.float64, requires_grad=True)
    ps = torch.tensor([psi], dtype=torch.float64, requires_grad=True)
    real = torch.zeros(1, 1, dtype=torch.float64) if real is None else real
    fake = th.view(1, 1) + (0 if fake_noise is None else fake_noise)        # (B, 1)

    def critic(x):
        return (ps * x).sum(1)          # D(x) = psi x, one logit per sample
    l_d = loss.d(critic(real), critic(fake.detach()))
    if r1:
        l_d = l_d + r1 * r1_penalty(critic, real)
    if gp:
        l_d = l_d + gp * gradient_penalty(critic, real, fake.detach())
    (g_psi,) = torch.autograd.grad(l_d, ps)
    (g_theta,) = torch.autograd.grad(loss.g(critic(fake)), th)
    return float(g_theta), float(g_psi)


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("reg", REGULARISERS, ids=lambda r: "+".join(r) or "plain")
def test_closed_form_matches_autograd_for_every_loss(name, reg):
    s = DiracSettings(loss=name, **reg)
    exact, table = Game(s), Game(s, exact=False)
    for theta, psi in POINTS:
        want = autograd_game(get_loss(name), theta, psi, **reg)
        # r1_penalty takes the input gradient in float32, hence its looser tolerance
        tol = 1e-7 if "r1" in reg else 1e-10
        assert exact.gradients(theta, psi) == pytest.approx(want, abs=tol), (theta, psi)
        # the trajectories' interpolated slopes: the same to well within a pixel
        assert table.gradients(theta, psi) == pytest.approx(want, abs=1e-6), (theta, psi)


def test_a_loss_parameter_reaches_the_game():
    """Focal gamma is the loss's own keyword: gamma 0 is the non-saturating game."""
    for theta, psi in POINTS:
        focal0 = Game(DiracSettings(loss="focal", loss_params=(("gamma", 0.0),)))
        assert focal0.gradients(theta, psi) == pytest.approx(
            Game(DiracSettings()).gradients(theta, psi), abs=1e-12)
        want = autograd_game(get_loss("focal", gamma=0.5), theta, psi)
        got = Game(DiracSettings(loss="focal", loss_params=(("gamma", 0.5),)))
        assert got.gradients(theta, psi) == pytest.approx(want, abs=1e-10)


@pytest.mark.parametrize("name", ["nonsaturating", "minimax", "focal", "hinge", "lsgan"])
def test_instance_noise_is_the_expected_gradient(name):
    """The quadrature of the noisy game against autograd on 400,000 noisy samples (fixed seed):
    they agree to Monte Carlo precision (hinge's jumping slope: to 2%), and the noise changes
    the gradient."""
    gen = torch.Generator().manual_seed(0)
    n, sigma = 400_000, 0.8
    real = sigma * torch.randn(n, 1, generator=gen, dtype=torch.float64)
    fake_noise = sigma * torch.randn(n, 1, generator=gen, dtype=torch.float64)
    game = Game(DiracSettings(loss=name, noise=sigma))
    for theta, psi in [(1.0, 1.0), (-1.2, 0.6)]:
        want = autograd_game(get_loss(name), theta, psi, real=real, fake_noise=fake_noise)
        assert game.gradients(theta, psi) == pytest.approx(want,
                                                           abs=2e-2 if name == "hinge" else 6e-3)
        assert Game(DiracSettings(loss=name)).gradients(theta, psi) != pytest.approx(want,
                                                                                    abs=2e-2)


def test_the_field_is_the_negative_gradient_on_a_grid():
    th, ps = np.meshgrid(np.linspace(-2, 2, 7), np.linspace(-2, 2, 5))
    s = DiracSettings(loss="nonsaturating", r1=0.5)
    d_theta, d_psi = dirac.field(s, th, ps)
    assert d_theta.shape == th.shape and d_psi.shape == th.shape
    g = Game(s)
    for i, j in [(0, 0), (2, 3), (4, 6)]:
        g_theta, g_psi = g.gradients(th[i, j], ps[i, j])
        assert (d_theta[i, j], d_psi[i, j]) == pytest.approx((-g_theta, -g_psi))


def test_a_wasserstein_step_is_a_rotation():
    """WGAN's field is (psi, -theta): simultaneous steps multiply the distance by sqrt(1 + lr^2)
    each round, alternating steps keep the path on a closed curve."""
    s = DiracSettings(loss="wgan-gp", update="simultaneous", lr=0.1, steps=10)
    d = np.hypot(*trajectory(s).T)
    assert d[-1] / d[0] == pytest.approx(math.sqrt(1 + 0.01) ** 10, rel=1e-9)
    alt = np.hypot(*trajectory(s.with_updates(update="alternating", steps=2000)).T)
    assert 0.85 < alt.min() / alt[0] and alt.max() / alt[0] < 1.15


START_POINTS = [(1.0, 1.0), (0.5, -0.5), (-1.5, 0.3), (0.0, 1.2)]


@pytest.mark.parametrize("lr", [0.05, 0.1, 0.2])
@pytest.mark.parametrize("start", START_POINTS)
def test_r1_turns_circling_into_converging(lr, start):
    """The paper's Figure: plain non-saturating and WGAN games keep going round (0, 0); with
    R1 (gamma 1) the same start and learning rate end next to it."""
    for loss in ("nonsaturating", "wgan-gp"):
        s = DiracSettings(loss=loss, lr=lr, steps=400, theta0=start[0], psi0=start[1])
        plain = summary(trajectory(s), s.steps)
        assert plain.end_distance > 0.15 and plain.verdict != "converges", (loss, plain)
        assert plain.turns > 0.5
        r1 = summary(trajectory(s.with_updates(r1=1.0)), s.steps)
        assert r1.end_distance < dirac.NEAR and r1.verdict == "converges", (loss, r1)


@pytest.mark.parametrize("start", START_POINTS)
def test_the_paper_s_verdicts(start):
    th, ps = start
    base = DiracSettings(theta0=th, psi0=ps, steps=600, lr=0.1)
    wgan = summary(trajectory(base.with_updates(loss="wgan-gp")), 600)
    assert wgan.verdict == "circles" and 0.9 < wgan.ratio < 1.1
    out = summary(trajectory(base.with_updates(loss="wgan-gp", update="simultaneous")), 600)
    assert out.verdict == "spirals out"
    noisy = summary(trajectory(base.with_updates(noise=1.0)), 600)
    assert noisy.verdict == "converges"
    # WGAN is linear in D's score: instance noise cannot damp it
    assert summary(trajectory(base.with_updates(loss="wgan-gp", noise=1.0)), 600).verdict \
        == "circles"


def test_non_saturating_settles_on_a_circle_when_simultaneous():
    """What the lab measured (not in the paper's words): with simultaneous steps the
    non-saturating game ends on a circle whose radius grows with lr, from inside or outside."""
    radii = []
    for lr in (0.1, 0.5):
        ends = [np.hypot(*trajectory(DiracSettings(update="simultaneous", lr=lr, steps=3000,
                                                   theta0=a, psi0=b))[-1])
                for a, b in [(0.2, 0.2), (2.0, 0.0)]]
        assert ends[0] == pytest.approx(ends[1], rel=0.1)
        radii.append(ends[0])
    assert 0.3 < radii[0] < 0.6 and 0.8 < radii[1] < 1.2


def test_exact_and_tabulated_paths_agree():
    for s in [DiracSettings(), DiracSettings(loss="focal", noise=0.5, update="simultaneous"),
              DiracSettings(loss="hinge", d_steps=3, g_steps=2, theta0=-0.7)]:
        s = s.with_updates(steps=150)
        assert np.abs(trajectory(s, exact=True) - trajectory(s)).max() < 1e-5


def test_a_path_that_runs_off_stops_and_says_so():
    s = DiracSettings(loss="wgan-gp", update="simultaneous", lr=1.0, steps=500)
    path = trajectory(s)
    assert len(path) < 501 and np.isfinite(path).all()
    assert summary(path, s.steps).verdict == "runs off"


def test_steps_per_round():
    """d_steps D updates and g_steps G updates per round, counted on WGAN's linear field
    (D's step is -lr theta, G's +lr psi)."""
    s = DiracSettings(loss="wgan-gp", lr=0.1, steps=1, theta0=1.0, psi0=0.0, d_steps=3)
    theta, psi = trajectory(s)[-1]
    assert psi == pytest.approx(-0.3) and theta == pytest.approx(1.0 + 0.1 * -0.3)
    sim = trajectory(s.with_updates(update="simultaneous", g_steps=2))[-1]
    # sub-step 1: both from (1, 0); 2: both from (1, -0.1); 3: D alone from (0.99, -0.2)
    assert sim == pytest.approx([1.0 + 0.0 - 0.01, -0.1 - 0.1 - 0.099])


@pytest.mark.parametrize("bad", [dict(loss="vanilla"), dict(update="both"), dict(lr=0.0),
                                 dict(lr=float("nan")), dict(r1=-1.0), dict(steps=0),
                                 dict(theta0=float("inf"))])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        DiracSettings(**bad).validate()


# --- every number in lab_app.phase.READING, on this code -------------------------------------

def test_reading_non_saturating_alternating_slows_down():
    d = np.hypot(*trajectory(DiracSettings(lr=0.1, steps=2000)).T)
    assert d[0] == pytest.approx(1.41, abs=0.005)
    assert d[500] == pytest.approx(0.39, abs=0.01) and d[2000] == pytest.approx(0.20, abs=0.01)
    assert np.all(np.diff(d[::100]) < 0)                     # closer every 100 rounds


@pytest.mark.parametrize("lr,radius", [(0.1, 0.45), (0.2, 0.63), (0.5, 1.0)])
def test_reading_non_saturating_simultaneous_radius(lr, radius):
    for start in [(0.2, 0.2), (2.0, 0.0)]:                   # from inside and from outside
        path = trajectory(DiracSettings(update="simultaneous", lr=lr, steps=3000,
                                        theta0=start[0], psi0=start[1]))
        assert np.hypot(*path[-300:].T).mean() == pytest.approx(radius, rel=0.05)
        assert summary(path, 3000).verdict == "circles"


@pytest.mark.parametrize("loss", ["nonsaturating", "minimax", "wgan-gp"])
@pytest.mark.parametrize("lr", [0.05, 0.1, 0.2])
def test_reading_r1_half_spirals_in(loss, lr):
    for th, ps in START_POINTS:
        s = DiracSettings(loss=loss, r1=0.5, lr=lr, steps=600, theta0=th, psi0=ps)
        result = summary(trajectory(s), 600)
        assert result.verdict == "converges" and result.turns > 0.5, (th, ps, result)


@pytest.mark.parametrize("loss", ["nonsaturating", "minimax"])
def test_reading_r1_from_one_goes_in_almost_straight(loss):
    for th, ps in START_POINTS:
        spiral = summary(trajectory(DiracSettings(loss=loss, r1=0.5, theta0=th, psi0=ps,
                                                  steps=1000)), 1000)
        straight = summary(trajectory(DiracSettings(loss=loss, r1=1.0, theta0=th, psi0=ps,
                                                    steps=1000)), 1000)
        assert straight.verdict == "converges" and straight.turns < 0.5 < spiral.turns


def test_reading_instance_noise_helps_logits_not_wgan():
    for th, ps in START_POINTS:
        for loss in ("nonsaturating", "minimax", "focal"):
            s = DiracSettings(loss=loss, noise=1.0, theta0=th, psi0=ps, steps=1000)
            assert summary(trajectory(s), 1000).verdict == "converges", (loss, th, ps)
        s = DiracSettings(loss="wgan-gp", noise=1.0, theta0=th, psi0=ps, steps=1000)
        assert summary(trajectory(s), 1000).verdict == "circles"


def test_reading_wgan_gp_is_no_cure():
    for th, ps in START_POINTS:
        path = trajectory(DiracSettings(loss="wgan-gp", gp=1.0, theta0=th, psi0=ps))
        assert summary(path).verdict == "stops off the data"
        assert abs(path[-1, 0]) == pytest.approx(2.0, abs=0.01) and abs(path[-1, 1]) < 0.01
        ns = trajectory(DiracSettings(gp=1.0, theta0=th, psi0=ps))
        assert summary(ns).verdict == "spirals out"


def test_reading_least_squares_rests_wherever_psi_is_zero():
    for th, ps in START_POINTS:
        path = trajectory(DiracSettings(loss="lsgan", theta0=th, psi0=ps, steps=1000))
        assert summary(path).verdict == "stops off the data" and abs(path[-1, 1]) < 1e-3
    g_theta, g_psi = Game(DiracSettings(loss="lsgan")).gradients(np.linspace(-2, 2, 9),
                                                                   np.zeros(9))
    assert np.all(g_theta == 0) and np.all(g_psi == 0)


def test_a_new_loss_in_the_registry_appears_here_with_no_second_copy(monkeypatch):
    """A made-up loss with a parameter, added to LOSSES only: its Dirac gradients match
    autograd, and the page's link and widgets take its parameter."""
    import dataclasses

    import torch.nn.functional as F

    from lab_app import phase

    def d_terms(real, fake, real_target=1.0, gamma=2.0):
        return F.softplus(gamma - real), F.softplus(gamma + fake)

    def g_terms(fake, gamma=2.0):
        return F.softplus(gamma - fake)
    spec = dataclasses.replace(LOSSES["hinge"], name="smooth-margin", d_terms=d_terms,
                               g_terms=g_terms, params=LOSSES["focal"].params)
    monkeypatch.setitem(LOSSES, "smooth-margin", spec)
    s, messages = phase.settings_from_params({"loss": "smooth-margin", "gamma": "1.5"})
    assert messages == [] and s.loss_params == (("gamma", 1.5),)
    for theta, psi in POINTS:
        want = autograd_game(get_loss("smooth-margin", gamma=1.5), theta, psi, r1=0.3)
        got = Game(s.with_updates(r1=0.3)).gradients(theta, psi)
        assert got == pytest.approx(want, abs=1e-7)
    state = phase.widget_state(s)
    assert phase.settings_from_widgets(state) == s

"""Losses: pinned to hand-computed values, and the behaviour each one is taught for."""
from __future__ import annotations

import math

import pytest
import torch

from gan_core.losses import LOSSES, focal_g_terms, get_loss, gradient_penalty, r1_penalty

REAL = [1.0, -0.5]     # D's logits on two real samples
FAKE = [0.3, -2.0]     # ... and on two generated ones


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs)


def t(values):
    return torch.tensor(values, dtype=torch.float64)


def value(x):
    return float(x.detach()) if torch.is_tensor(x) else float(x)


# --- pinned values -------------------------------------------------------------------------

def expected_bce_d(real, fake, target=1.0):
    targets = target if isinstance(target, list) else [target] * len(real)
    real_term = mean(-(tt * math.log(sig(r)) + (1 - tt) * math.log(1 - sig(r)))
                     for r, tt in zip(real, targets))
    return real_term + mean(-math.log(1 - sig(f)) for f in fake)


@pytest.mark.parametrize("name", ["minimax", "nonsaturating"])
def test_bce_d_loss_matches_hand_computation(name):
    """Both BCE losses share D's loss: -mean log D(x) - mean log(1 - D(G(z)))."""
    got = get_loss(name).d(t(REAL), t(FAKE))
    assert value(got) == pytest.approx(expected_bce_d(REAL, FAKE), rel=1e-9)


def test_minimax_g_loss_value():
    """Minimax G minimises mean log(1 - D(G(z)))."""
    expected = mean(math.log(1 - sig(f)) for f in FAKE)
    assert value(get_loss("minimax").g(t(FAKE))) == pytest.approx(expected, rel=1e-9)


def test_nonsaturating_g_loss_value():
    """Non-saturating G minimises -mean log D(G(z))."""
    expected = mean(-math.log(sig(f)) for f in FAKE)
    assert value(get_loss("nonsaturating").g(t(FAKE))) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_focal_d_loss_value(gamma):
    """Focal D: -(1-D(x))^g log D(x) - D(G(z))^g log(1 - D(G(z)))."""
    expected = (mean(-(1 - sig(r)) ** gamma * math.log(sig(r)) for r in REAL)
                + mean(-sig(f) ** gamma * math.log(1 - sig(f)) for f in FAKE))
    got = get_loss("focal", gamma=gamma).d(t(REAL), t(FAKE))
    assert value(got) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_focal_g_loss_value(gamma):
    """Focal G: -(1 - D(G(z)))^g log D(G(z))."""
    expected = mean(-(1 - sig(f)) ** gamma * math.log(sig(f)) for f in FAKE)
    assert value(get_loss("focal", gamma=gamma).g(t(FAKE))) == pytest.approx(expected, rel=1e-9)


def test_hinge_values():
    """Hinge D: mean relu(1 - D(x)) + mean relu(1 + D(G(z))); G: -mean D(G(z))."""
    expected_d = mean(max(0.0, 1 - r) for r in REAL) + mean(max(0.0, 1 + f) for f in FAKE)
    assert expected_d == pytest.approx(0.75 + 0.65)
    loss = get_loss("hinge")
    assert value(loss.d(t(REAL), t(FAKE))) == pytest.approx(expected_d)
    assert value(loss.g(t(FAKE))) == pytest.approx(-mean(FAKE))


def test_wgan_values():
    """Wasserstein critic minimises mean D(G(z)) - mean D(x); G minimises -mean D(G(z))."""
    loss = get_loss("wgan-gp")
    assert value(loss.d(t(REAL), t(FAKE))) == pytest.approx(mean(FAKE) - mean(REAL))
    assert value(loss.d(t(REAL), t(FAKE))) == pytest.approx(-1.1)
    assert value(loss.g(t(FAKE))) == pytest.approx(0.85)


def test_lsgan_values():
    """LSGAN D: 1/2 mean (D(x) - 1)^2 + 1/2 mean D(G(z))^2; G: 1/2 mean (D(G(z)) - 1)^2."""
    loss = get_loss("lsgan")
    expected_d = 0.5 * mean((r - 1) ** 2 for r in REAL) + 0.5 * mean(f ** 2 for f in FAKE)
    expected_g = 0.5 * mean((f - 1) ** 2 for f in FAKE)
    assert value(loss.d(t(REAL), t(FAKE))) == pytest.approx(expected_d)
    assert value(loss.g(t(FAKE))) == pytest.approx(expected_g)


def test_losses_are_stable_for_extreme_logits():
    """Softplus formulation: no inf/nan for logits of +-100 (sigmoid + log would overflow)."""
    extreme = t([100.0, -100.0])
    for name in LOSSES:
        loss = get_loss(name)
        assert torch.isfinite(loss.d(extreme, extreme)), name
        assert torch.isfinite(loss.g(extreme)), name
    # -log D(G(z)) at logit -100 is 100, not inf.
    assert value(get_loss("nonsaturating").g(t([-100.0]))) == pytest.approx(100.0)


# --- relations between losses ----------------------------------------------------------------

def test_focal_gamma_zero_is_nonsaturating():
    """gamma = 0 turns focal loss into the non-saturating loss, for D and for G."""
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(16, generator=g) * 3, torch.randn(16, generator=g) * 3
    focal, ns = get_loss("focal", gamma=0.0), get_loss("nonsaturating")
    torch.testing.assert_close(focal.d(real, fake), ns.d(real, fake))
    torch.testing.assert_close(focal.g(fake), ns.g(fake))
    targets = torch.tensor([1.0, 0.0] * 8)
    torch.testing.assert_close(focal.d(real, fake, targets), ns.d(real, fake, targets))
    # and gamma matters: with gamma = 2 the values differ
    assert not torch.allclose(get_loss("focal", gamma=2.0).g(fake), ns.g(fake))


def _grad_wrt_logit(g_loss, logit: float) -> float:
    x = torch.tensor([logit], dtype=torch.float64, requires_grad=True)
    g_loss(x).backward()
    return float(x.grad)


def test_minimax_saturates_where_nonsaturating_does_not():
    """When D confidently rejects fakes (logit -> -inf, D(G(z)) -> 0) minimax's G gradient
    vanishes while the non-saturating one stays near -1."""
    minimax, ns = get_loss("minimax").g, get_loss("nonsaturating").g
    grads_mm = [abs(_grad_wrt_logit(minimax, l)) for l in (-2.0, -5.0, -10.0)]
    assert grads_mm[0] > grads_mm[1] > grads_mm[2]                 # shrinking
    assert grads_mm[2] < 1e-4                                      # ~ sigmoid(-10) = 4.5e-5
    assert grads_mm[2] == pytest.approx(sig(-10.0), rel=1e-6)
    grad_ns = _grad_wrt_logit(ns, -10.0)
    assert grad_ns == pytest.approx(-(1 - sig(-10.0)), rel=1e-6)    # ~ -1: G still learns
    assert abs(grad_ns) > 0.99


def test_focal_down_weights_confident_samples():
    """Per sample, focal/BCE = (1 - p_t)^gamma: tiny when the prediction is confidently right,
    near 1 when it is wrong."""
    focal, bce = get_loss("focal", gamma=2.0), get_loss("nonsaturating")
    # G's view: a fake that D already believes (logit 4) vs one D rejects (logit -4)
    easy, hard = t([4.0]), t([-4.0])
    ratio_easy = value(focal.g(easy)) / value(bce.g(easy))
    ratio_hard = value(focal.g(hard)) / value(bce.g(hard))
    assert ratio_easy == pytest.approx((1 - sig(4.0)) ** 2, rel=1e-6)
    assert ratio_hard == pytest.approx((1 - sig(-4.0)) ** 2, rel=1e-6)
    assert ratio_easy < 0.01 < 0.9 < ratio_hard
    # D's view on real samples (fake term made negligible with a very negative fake logit)
    far_fake = t([-40.0])
    d_ratio_easy = value(focal.d(t([4.0]), far_fake)) / value(bce.d(t([4.0]), far_fake))
    d_ratio_hard = value(focal.d(t([-4.0]), far_fake)) / value(bce.d(t([-4.0]), far_fake))
    assert d_ratio_easy < 0.01 < 0.9 < d_ratio_hard


def test_hinge_sign_convention():
    """Hinge D is zero once real scores >= 1 and fake scores <= -1, and grows on the wrong
    side; G's loss falls as its samples' scores rise."""
    hinge = get_loss("hinge")
    assert value(hinge.d(t([1.0, 3.0]), t([-1.0, -5.0]))) == 0.0
    assert value(hinge.d(t([-2.0]), t([2.0]))) == pytest.approx(3.0 + 3.0)
    assert value(hinge.d(t([0.5]), t([-3.0]))) == pytest.approx(0.5)
    assert value(hinge.g(t([2.0]))) < value(hinge.g(t([-2.0])))
    assert value(hinge.g(t([2.0]))) == pytest.approx(-2.0)


# --- gradient penalty ------------------------------------------------------------------------

def _linear_critic(scale: float):
    """f(x) = scale * sum(x) / sqrt(numel per sample): gradient norm exactly `scale`."""
    def critic(x):
        d = x[0].numel()
        return scale * x.flatten(1).sum(1) / math.sqrt(d)
    return critic


def test_gradient_penalty_zero_for_unit_gradient_critic():
    """A critic whose input gradient has norm 1 everywhere pays no penalty."""
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(8, 1, 6, 6, generator=g), torch.randn(8, 1, 6, 6, generator=g)
    gp = gradient_penalty(_linear_critic(1.0), real, fake, generator=g)
    assert value(gp) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("scale", [3.0, 0.5])
def test_gradient_penalty_positive_otherwise(scale):
    """Gradient norm s gives the penalty (s - 1)^2; a nonlinear critic is penalised too."""
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    gp = gradient_penalty(_linear_critic(scale), real, fake, generator=g)
    assert value(gp) == pytest.approx((scale - 1) ** 2, rel=1e-5)
    gp2 = gradient_penalty(lambda x: (x ** 2).sum(1) * 4, real, fake, generator=g)
    assert value(gp2) > 0


@pytest.mark.parametrize("scale", [0.0, 0.5, 3.0])
def test_r1_penalty_is_half_the_squared_slope_at_the_real_images(scale):
    """R1 = 1/2 E||grad_x D(x)||^2 on the real images: s^2 / 2 for a critic of slope s (0 for a
    flat one), and for D(x) = sum(x^2) it is 1/2 E||2x||^2, which depends on where x is."""
    real = torch.randn(8, 1, 6, 6, generator=torch.Generator().manual_seed(2))
    assert value(r1_penalty(_linear_critic(scale), real)) == pytest.approx(scale ** 2 / 2,
                                                                             abs=1e-7)
    expected = 0.5 * (2 * real).flatten(1).pow(2).sum(1).mean()
    got = r1_penalty(lambda x: x.flatten(1).pow(2).sum(1), real)
    assert value(got) == pytest.approx(value(expected), rel=1e-6)
    assert not real.requires_grad          # the real batch itself is left alone


def test_r1_penalty_is_differentiable_wrt_critic():
    w = torch.tensor(2.0, requires_grad=True)
    real = torch.randn(4, 3, generator=torch.Generator().manual_seed(3))
    r1_penalty(lambda x: w * x.sum(1), real).backward()
    assert w.grad is not None and value(w.grad) == pytest.approx(3 * 2.0)   # d/dw (3 w^2 / 2)


def test_gradient_penalty_is_differentiable_wrt_critic():
    """create_graph=True: the penalty back-propagates into the critic's parameters."""
    w = torch.nn.Parameter(torch.full((5,), 2.0))
    real, fake = torch.randn(4, 5), torch.randn(4, 5)
    gp = gradient_penalty(lambda x: x @ w, real, fake)
    gp.backward()
    assert w.grad is not None and float(w.grad.abs().sum()) > 0


# --- targets: smoothing and flipping ---------------------------------------------------------

def test_label_smoothing_changes_d_loss_as_expected():
    """A real target of 0.9 gives -[0.9 log D(x) + 0.1 log(1 - D(x))] for the real term."""
    for name in ("minimax", "nonsaturating"):
        loss = get_loss(name)
        smoothed = value(loss.d(t(REAL), t(FAKE), 0.9))
        assert smoothed == pytest.approx(expected_bce_d(REAL, FAKE, 0.9), rel=1e-9)
        assert smoothed != pytest.approx(value(loss.d(t(REAL), t(FAKE), 1.0)))
    lsgan = get_loss("lsgan")
    expected = 0.5 * mean((r - 0.9) ** 2 for r in REAL) + 0.5 * mean(f ** 2 for f in FAKE)
    assert value(lsgan.d(t(REAL), t(FAKE), 0.9)) == pytest.approx(expected)


def test_per_sample_flipped_targets():
    """A per-sample target tensor: a real sample with target 0 is scored as a fake."""
    targets = [1.0, 0.0]
    loss = get_loss("nonsaturating")
    got = value(loss.d(t(REAL), t(FAKE), t(targets)))
    assert got == pytest.approx(expected_bce_d(REAL, FAKE, targets), rel=1e-9)
    hand = mean([-math.log(sig(REAL[0])), -math.log(1 - sig(REAL[1]))]) \
        + mean(-math.log(1 - sig(f)) for f in FAKE)
    assert got == pytest.approx(hand, rel=1e-9)
    # focal with a flipped sample: -(D(x))^g log(1 - D(x)) for that sample
    gamma = 2.0
    focal_hand = mean([-(1 - sig(REAL[0])) ** gamma * math.log(sig(REAL[0])),
                       -sig(REAL[1]) ** gamma * math.log(1 - sig(REAL[1]))]) \
        + mean(-sig(f) ** gamma * math.log(1 - sig(f)) for f in FAKE)
    assert value(get_loss("focal", gamma=gamma).d(t(REAL), t(FAKE), t(targets))) == pytest.approx(focal_hand)


# --- registry --------------------------------------------------------------------------------

def test_get_loss_unknown_name_lists_known_ones():
    """An unknown loss is a ValueError listing every registered name."""
    with pytest.raises(ValueError) as e:
        get_loss("nope")
    msg = str(e.value)
    assert "nope" in msg
    for name in LOSSES:
        assert name in msg


def test_registry_has_the_six_losses():
    """The registry holds exactly the six losses the lab teaches."""
    assert set(LOSSES) == {"minimax", "nonsaturating", "focal", "hinge", "wgan-gp", "lsgan"}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_documents_itself(name):
    """The app shows the formulas and a reading: none may be empty."""
    spec = LOSSES[name]
    assert spec.name == name
    assert spec.latex_d.strip() and spec.latex_g.strip() and spec.explanation.strip()
    assert spec.title.strip()


def test_focal_note_mentions_paper_misprint():
    """The focal loss note points out the paper's D(G(x)) misprint."""
    assert "D(G(x))" in LOSSES["focal"].note


def test_loss_flags():
    """Hinge and WGAN have no labels to smooth; only WGAN-GP adds a penalty; only focal a gamma."""
    assert {n for n, s in LOSSES.items() if not s.uses_targets} == {"hinge", "wgan-gp"}
    assert {n for n, s in LOSSES.items() if s.gradient_penalty} == {"wgan-gp"}
    assert {n for n, s in LOSSES.items() if s.uses_gamma} == {"focal"}


def test_bound_gamma_is_used():
    """get_loss('focal', gamma=...) binds gamma into both D and G."""
    fake = t([0.7])
    assert value(get_loss("focal", gamma=3.0).g(fake)) == pytest.approx(
        value(focal_g_terms(fake, gamma=3.0).mean()))
    assert value(get_loss("focal", gamma=3.0).g(fake)) != pytest.approx(
        value(get_loss("focal", gamma=1.0).g(fake)))


# --- the balance line of log(L_G / L_D) -------------------------------------------------------

def test_balance_is_minus_log_2_for_the_cross_entropy_family_not_zero():
    """D's loss has a real and a fake term, G's one: at D = 1/2 the ratio is ln2 / 2 ln2."""
    from gan_core.losses import balance_log_ratio, balance_point
    for name in ("nonsaturating", "focal", "lsgan"):
        for gamma in (0.5, 2.0):
            assert balance_log_ratio(name, gamma) == pytest.approx(-math.log(2), abs=1e-12)
    b = balance_point("nonsaturating")
    assert b.d_loss == pytest.approx(2 * math.log(2)) and b.g_loss == pytest.approx(math.log(2))
    assert "-0.69" in b.why


def test_balance_is_undefined_where_a_loss_is_not_positive_at_equilibrium():
    """Hinge's and WGAN's G loss is 0 at a score of 0, minimax's G loss is -ln 2: no log ratio."""
    from gan_core.losses import balance_log_ratio, balance_point
    for name in ("hinge", "wgan-gp", "minimax"):
        assert balance_log_ratio(name) is None
        assert balance_point(name).why.startswith("undefined")



def test_balance_with_label_smoothing_is_where_d_answers_t_over_2():
    """Real target t = 0.9: where p_data = p_g, D's best answer is t / 2 = 0.45, not 1/2, so
    L_D = -[t ln(t/2) + (1-t) ln(1-t/2)] - ln(1-t/2), L_G = -ln(t/2): log ratio -0.544."""
    from gan_core.losses import balance_log_ratio, balance_point
    t = 0.9
    d = -(t * math.log(t / 2) + (1 - t) * math.log(1 - t / 2)) - math.log(1 - t / 2)
    expected = math.log(-math.log(t / 2) / d)
    b = balance_point("nonsaturating", smoothing=0.1)
    assert b.log_ratio == pytest.approx(expected, abs=1e-6)
    assert b.log_ratio == pytest.approx(-0.544, abs=1e-3)
    assert torch.sigmoid(torch.tensor(b.score)) == pytest.approx(0.45, abs=1e-6)
    assert "-0.54" in b.why
    # LSGAN's best score moves to t / 2 as well; hinge uses no target and is still undefined
    assert balance_point("lsgan", smoothing=0.1).score == pytest.approx(0.45, abs=1e-6)
    assert balance_log_ratio("hinge", smoothing=0.1) is None
    assert balance_log_ratio("nonsaturating", smoothing=0.0) == pytest.approx(-math.log(2))

# --- focal loss with 0 < gamma < 1 ------------------------------------------------------------

@pytest.mark.parametrize("gamma", [0.25, 0.5, 0.75])
def test_focal_gradients_stay_finite_for_fractional_gamma(gamma):
    """sigmoid(l) ** gamma has an infinite slope where sigmoid underflows; confident logits up
    to +-50 must still give finite gradients for D's and G's focal losses."""
    logits = torch.tensor([-50.0, -30.0, -17.0, 0.0, 17.0, 30.0, 50.0], requires_grad=True)
    focal = get_loss("focal", gamma=gamma)
    for loss in (focal.d(logits, logits), focal.d(logits, logits, torch.tensor([0.0, 1] * 3 + [0])),
                 focal.g(logits)):
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(loss) and torch.isfinite(grad).all(), (gamma, loss, grad)

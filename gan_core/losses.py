"""GAN losses as small pure functions on discriminator logits.

Every loss is defined once, per sample (after PyTorch-StudioGAN's one shape):

    d_terms(real_logits, fake_logits, real_target, **params) -> (real (B,), fake (B,))
    g_terms(fake_logits, **params)                            -> (B,)

D minimises mean(real) + mean(fake), G minimises mean(g_terms); the trainer, the step-by-step
views, the Loss lab's curves and the detectors all read these same functions (`Loss.d`, `.g`,
`.d_terms`, `.g_terms`), so a new loss is one function pair and one `LossSpec` line.

`real_target` is 1 for plain training; label smoothing lowers it (0.9) and one-sided label
flipping sets it to 0 for some real samples, so it may be a float or a per-sample tensor.
Logits are turned into log-probabilities with softplus, never with sigmoid + log, so nothing
overflows:  log D = -softplus(-l),  log(1 - D) = -softplus(l).

The registry `LOSSES` maps a name to a `LossSpec` that also carries its parameters (each read
from a TrainConfig field), the formulas (LaTeX, as the paper writes it and as the batch mean
the step-by-step view fills in) and a plain-language explanation. `get_loss(name, gamma=...)`
binds the parameters; `loss_of(config)` binds them from a config.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import torch
import torch.nn.functional as F

Target = Union[float, torch.Tensor]


def _log_d(logits: torch.Tensor) -> torch.Tensor:
    """log sigmoid(l), stable."""
    return -F.softplus(-logits)


def _log_one_minus_d(logits: torch.Tensor) -> torch.Tensor:
    """log(1 - sigmoid(l)), stable."""
    return -F.softplus(logits)


# --- binary cross-entropy family -------------------------------------------------------------

def bce_d_terms(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_target: Target = 1.0):
    """-[t log D(x) + (1-t) log(1-D(x))] and -log(1 - D(G(z))); t is the real target."""
    real = -(real_target * _log_d(real_logits) + (1 - real_target) * _log_one_minus_d(real_logits))
    return real, -_log_one_minus_d(fake_logits)


def minimax_g_terms(fake_logits: torch.Tensor):
    """G minimises log(1 - D(G(z))): the original, saturating game."""
    return _log_one_minus_d(fake_logits)


def nonsaturating_g_terms(fake_logits: torch.Tensor):
    """G minimises -log D(G(z)): the DCGAN trick that keeps gradients alive early on."""
    return -_log_d(fake_logits)


# --- focal loss (FLGAN) ----------------------------------------------------------------------

def _focal_weight(log_p: torch.Tensor, gamma: float) -> torch.Tensor:
    """p ** gamma computed as exp(gamma * log p), with log p from softplus.

    `sigmoid(l) ** gamma` has an infinite derivative where sigmoid(l) underflows to 0 when
    0 < gamma < 1 (d/dp p^g = g p^(g-1)), which turns a confident D's gradients into NaN; in log
    space the weight and its gradient stay finite for any logit.
    """
    return torch.exp(gamma * log_p) if gamma else torch.ones_like(log_p)


def focal_d_terms(real_logits, fake_logits, real_target: Target = 1.0, gamma: float = 2.0):
    """Focal loss for D: -(1-D(x))^g log D(x) and -D(G(z))^g log(1-D(G(z))).

    With a soft or flipped target t the real term is the focal form of binary cross-entropy:
    -[t (1-D(x))^g log D(x) + (1-t) D(x)^g log(1-D(x))].
    """
    real = -(real_target * _focal_weight(_log_one_minus_d(real_logits), gamma) * _log_d(real_logits)
             + (1 - real_target) * _focal_weight(_log_d(real_logits), gamma)
             * _log_one_minus_d(real_logits))
    return real, -_focal_weight(_log_d(fake_logits), gamma) * _log_one_minus_d(fake_logits)


def focal_g_terms(fake_logits, gamma: float = 2.0):
    """Focal loss for G: -(1-D(G(z)))^g log D(G(z)); gamma=0 is the non-saturating loss."""
    return -_focal_weight(_log_one_minus_d(fake_logits), gamma) * _log_d(fake_logits)


# --- hinge (SAGAN) ---------------------------------------------------------------------------

def hinge_d_terms(real_logits, fake_logits, real_target: Target = 1.0):
    """max(0, 1 - D(x)) and max(0, 1 + D(G(z))) on raw scores. real_target is not used."""
    return F.relu(1 - real_logits), F.relu(1 + fake_logits)


def score_g_terms(fake_logits):
    """-D(G(z)): G raises its samples' raw scores (hinge and Wasserstein)."""
    return -fake_logits


# --- Wasserstein with gradient penalty -------------------------------------------------------

def wasserstein_d_terms(real_logits, fake_logits, real_target: Target = 1.0):
    """The critic minimises D(G(z)) - D(x); the gradient penalty is added by the trainer."""
    return -real_logits, fake_logits


def _input_gradient(critic: Callable[[torch.Tensor], torch.Tensor],
                    x: torch.Tensor) -> torch.Tensor:
    """grad_x of the critic's scores at the points x (a leaf tensor), one flat row per sample;
    create_graph=True, so a penalty on it back-propagates into the critic's weights."""
    (grad,) = torch.autograd.grad(critic(x.requires_grad_(True)).float().sum(), x,
                                  create_graph=True)
    return grad.flatten(1)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gulrajani et al.: E[(||grad_x D(x_hat)||_2 - 1)^2] at random points between real and fake."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, generator=generator)
    grad = _input_gradient(critic, alpha * real + (1 - alpha) * fake.detach())
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


def r1_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """Mescheder et al. 2018: 1/2 E[||grad_x D(x)||^2] at real images (the trainer multiplies
    by gamma). D is pushed to be flat around the data, which damps the back-and-forth of G and D
    that keeps a GAN circling instead of settling."""
    grad = _input_gradient(critic, real.detach().float())
    return 0.5 * grad.pow(2).sum(1).mean()


# --- least squares ---------------------------------------------------------------------------

def lsgan_d_terms(real_logits, fake_logits, real_target: Target = 1.0):
    """1/2 (D(x) - t)^2 and 1/2 D(G(z))^2 on raw scores (Mao et al., a=0, b=c=1)."""
    return 0.5 * (real_logits - real_target) ** 2, 0.5 * fake_logits ** 2


def lsgan_g_terms(fake_logits):
    return 0.5 * (fake_logits - 1) ** 2


# --- registry --------------------------------------------------------------------------------

@dataclass(frozen=True)
class LossParam:
    """A number a loss takes: the keyword of its functions, the TrainConfig field that holds
    its value (so the CLI flag, the link and the widget are that field's), and its symbol."""
    name: str                       # keyword of d_terms/g_terms, e.g. "gamma"
    field: str                      # TrainConfig field, e.g. "focal_gamma"
    default: float
    symbol: str                     # in the LaTeX, e.g. r"\gamma"; filled in with the value
    penalty: bool = False           # the weight of the trainer's gradient penalty, not a
                                    # keyword of the loss functions


@dataclass(frozen=True)
class LossSpec:
    """A loss as the app shows it: functions, parameters, formulas and a short reading."""
    name: str
    title: str
    d_terms: Callable               # per-sample (real, fake) terms of D's loss
    g_terms: Callable               # per-sample terms of G's loss
    latex_d: str                    # what D minimises (or maximises, as the paper wrote it)
    latex_g: str
    # The batch means the step-by-step view fills in with numbers: D's real term, D's fake
    # term (each with its sign), and G's.
    mean_d: tuple[str, str]
    mean_g: str
    explanation: str
    summary: str = ""               # one line, for a heading
    uses_targets: bool = True       # label smoothing and flipping make sense
    raw_scores: bool = False        # D's output is a score, not the logit of a probability
    # D's output where it cannot tell real from fake (p_data = p_g): logit 0, i.e. D = 1/2, for
    # the cross-entropy family; 0.5 for LSGAN (a=0, b=1: D* = p_data / (p_data + p_g)); 0 for
    # hinge and Wasserstein critics (midway between hinge's margins; no Wasserstein gap).
    equilibrium_score: float = 0.0
    # Raw-score losses: reference lines for a chart of D's mean score, (value, what it means).
    score_lines: tuple = ()
    gradient_penalty: bool = False  # the trainer adds weight * gradient_penalty to D's loss
    params: tuple[LossParam, ...] = ()
    paper: str = ""
    note: str = ""                  # e.g. a misprint in the paper

    @property
    def uses_gamma(self) -> bool:
        return any(p.name == "gamma" for p in self.params)

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}


@dataclass(frozen=True)
class Loss:
    """A LossSpec with its parameters bound: `.d(real, fake, target)` and `.g(fake)` are what
    the players minimise; `.d_terms` and `.g_terms` the same per sample."""
    spec: LossSpec
    values: dict = field(default_factory=dict)      # parameter name -> value

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def gamma(self) -> float:
        return self.values.get("gamma", 0.0)

    def _kw(self) -> dict[str, Any]:
        return {p.name: self.values[p.name] for p in self.spec.params if not p.penalty}

    def d_terms(self, real_logits, fake_logits, real_target: Target = 1.0):
        return self.spec.d_terms(real_logits, fake_logits, real_target, **self._kw())

    def g_terms(self, fake_logits):
        return self.spec.g_terms(fake_logits, **self._kw())

    def d(self, real_logits, fake_logits, real_target: Target = 1.0):
        real, fake = self.d_terms(real_logits, fake_logits, real_target)
        return real.mean() + fake.mean()

    def g(self, fake_logits):
        return self.g_terms(fake_logits).mean()

    def shown(self, logits):
        """D's output as the lab shows it: the probability sigmoid(logit) for losses on logits,
        the raw score itself for hinge, WGAN-GP and LSGAN (records.d_output_kind names which)."""
        return logits if self.spec.raw_scores else torch.sigmoid(logits)

    def latex(self, text: str) -> str:
        """`text` with each parameter's symbol replaced by its value."""
        for p in self.spec.params:
            text = text.replace(p.symbol, f"{self.values[p.name]:g}")
        return text


GAMMA = LossParam("gamma", "focal_gamma", 2.0, r"\gamma")
GP_WEIGHT = LossParam("gp_weight", "gp_weight", 10.0, r"\lambda", penalty=True)
_BCE_D = (r"\max_D\; \mathbb{E}_x[\log D(x)] + \mathbb{E}_z[\log(1 - D(G(z)))]")
_BCE_MEAN_D = (r"-\overline{\log D(x)}", r"-\overline{\log(1 - D(G(z)))}")

LOSSES: dict[str, LossSpec] = {
    "minimax": LossSpec(
        name="minimax", title="Minimax (saturating)",
        d_terms=bce_d_terms, g_terms=minimax_g_terms,
        latex_d=_BCE_D, latex_g=r"\min_G\; \mathbb{E}_z[\log(1 - D(G(z)))]",
        mean_d=_BCE_MEAN_D, mean_g=r"\overline{\log(1 - D(G(z)))}",
        summary="G minimises log(1 - D(G(z))): little gradient while D is winning.",
        explanation=("Goodfellow's original two-player game. When D easily spots fakes, "
                     "D(G(z)) is near 0 where log(1 - D(G(z))) is flat, so G gets almost no "
                     "gradient and learning stalls early."),
        paper="Goodfellow et al. 2014; the GAN losses report"),
    "nonsaturating": LossSpec(
        name="nonsaturating", title="Non-saturating (DCGAN)",
        d_terms=bce_d_terms, g_terms=nonsaturating_g_terms,
        latex_d=_BCE_D, latex_g=r"\max_G\; \mathbb{E}_z[\log D(G(z))]",
        mean_d=_BCE_MEAN_D, mean_g=r"-\overline{\log D(G(z))}",
        summary="G maximises log D(G(z)): strongest push exactly when G is losing.",
        explanation=("The same D, but G maximises log D(G(z)) instead of minimising "
                     "log(1 - D(G(z))). This is binary cross-entropy with the fake labels "
                     "flipped, and its gradient is largest exactly when G is losing."),
        paper="Radford et al. 2015 (DCGAN)"),
    "focal": LossSpec(
        name="focal", title="Focal loss (FLGAN)",
        d_terms=focal_d_terms, g_terms=focal_g_terms, params=(GAMMA,),
        latex_d=(r"\max_D\; \mathbb{E}_x[(1 - D(x))^{\gamma} \log D(x)] + "
                 r"\mathbb{E}_z[D(G(z))^{\gamma} \log(1 - D(G(z)))]"),
        latex_g=r"\max_G\; \mathbb{E}_z[(1 - D(G(z)))^{\gamma} \log D(G(z))]",
        mean_d=(r"-\overline{(1-D(x))^{\gamma}\log D(x)}",
                r"-\overline{D(G(z))^{\gamma}\log(1 - D(G(z)))}"),
        mean_g=r"-\overline{(1 - D(G(z)))^{\gamma}\log D(G(z))}",
        summary="Cross-entropy scaled by (1 - p_t)^gamma: easy samples count less, hard ones more.",
        explanation=("Cross-entropy where every term is scaled by how wrong the prediction is: "
                     "(1 - p_t)^gamma is near 0 for samples already classified with confidence, "
                     "so training focuses on the hard ones. gamma = 0 gives back the "
                     "non-saturating loss; the FLGAN paper uses gamma = 2."),
        paper="FLGAN (focal loss GAN), after Lin et al. 2017",
        note=("The FLGAN paper's equations 9 and 11 print D(G(x)) in the real-data term; "
              "D(x) is meant, as written here.")),
    "hinge": LossSpec(
        name="hinge", title="Hinge (SAGAN)",
        raw_scores=True, d_terms=hinge_d_terms, g_terms=score_g_terms, uses_targets=False,
        score_lines=((1.0, "+1: real margin"), (0.0, "0: cannot tell"),
                     (-1.0, "-1: fake margin")),
        latex_d=(r"\min_D\; \mathbb{E}_x[\max(0, 1 - D(x))] + "
                 r"\mathbb{E}_z[\max(0, 1 + D(G(z)))]"),
        latex_g=r"\min_G\; -\mathbb{E}_z[D(G(z))]",
        mean_d=(r"\overline{\max(0, 1 - D(x))}", r"\overline{\max(0, 1 + D(G(z)))}"),
        mean_g=r"-\overline{D(G(z))}",
        summary="D stops pushing beyond a margin of 1; G raises its samples' scores.",
        explanation=("D works on raw scores and stops pushing once a real sample scores above 1 "
                     "and a fake below -1; G simply raises the score of its samples. Used by "
                     "SAGAN and BigGAN."),
        paper="SAGAN (Zhang et al. 2018)"),
    "wgan-gp": LossSpec(
        name="wgan-gp", title="Wasserstein + gradient penalty",
        raw_scores=True, d_terms=wasserstein_d_terms, g_terms=score_g_terms, uses_targets=False,
        score_lines=((0.0, "0 (only the gap D(x) - D(G(z)) means anything)"),),
        gradient_penalty=True, params=(GP_WEIGHT,),
        latex_d=(r"\min_D\; \mathbb{E}_z[D(G(z))] - \mathbb{E}_x[D(x)] + "
                 r"\lambda\,\mathbb{E}_{\hat x}[(\lVert\nabla_{\hat x} D(\hat x)\rVert_2 - 1)^2]"),
        latex_g=r"\min_G\; -\mathbb{E}_z[D(G(z))]",
        mean_d=(r"-\overline{D(x)}", r"\overline{D(G(z))}"),
        mean_g=r"-\overline{D(G(z))}",
        summary="A critic's score gap estimates the Wasserstein distance; a penalty keeps it smooth.",
        explanation=("D becomes a critic that scores realism without a sigmoid; the gap between "
                     "real and fake scores estimates the Wasserstein distance, which keeps "
                     "giving G a useful signal. The penalty keeps the critic 1-Lipschitz. Train "
                     "the critic more often than G (5:1)."),
        paper="Gulrajani et al. 2017"),
    "lsgan": LossSpec(
        name="lsgan", title="Least squares (LSGAN)",
        raw_scores=True, d_terms=lsgan_d_terms, g_terms=lsgan_g_terms, equilibrium_score=0.5,
        score_lines=((1.0, "1: real target"), (0.5, "0.5: cannot tell"),
                     (0.0, "0: fake target")),
        latex_d=r"\min_D\; \tfrac12\mathbb{E}_x[(D(x) - 1)^2] + \tfrac12\mathbb{E}_z[D(G(z))^2]",
        latex_g=r"\min_G\; \tfrac12\mathbb{E}_z[(D(G(z)) - 1)^2]",
        mean_d=(r"\tfrac12\overline{(D(x) - 1)^2}", r"\tfrac12\overline{D(G(z))^2}"),
        mean_g=r"\tfrac12\overline{(D(G(z)) - 1)^2}",
        summary="Squared error to the targets: far-off fakes are penalised even on the right side.",
        explanation=("Squared error instead of log loss: fakes that are on the right side of the "
                     "boundary but far from the real data are still penalised, which gives "
                     "smoother gradients than the saturating loss."),
        paper="Mao et al. 2017"),
}


def get_loss(name: str, **values: float) -> Loss:
    """Bind a registered loss with its parameters (`gamma=2.0`; a parameter not given takes
    its default, one the loss does not have is ignored); unknown names raise ValueError."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {name!r}")
    spec = LOSSES[name]
    return Loss(spec, {p.name: float(values.get(p.name, p.default)) for p in spec.params})


def loss_of(config: Any) -> Loss:
    """The loss a TrainConfig names, its parameters read from their config fields."""
    params = LOSSES[config.loss].params if config.loss in LOSSES else ()   # else get_loss refuses
    return get_loss(config.loss, **{p.name: getattr(config, p.field) for p in params})


# --- balance: log(L_G / L_D) where D cannot tell ---------------------------------------------

@dataclass(frozen=True)
class BalancePoint:
    """The losses where D cannot tell real from fake, and the log ratio they give."""
    score: float                    # D's output there (a logit, or a raw score)
    d_loss: float
    g_loss: float
    log_ratio: Optional[float]      # log(L_G / L_D); None where it is undefined
    why: str                        # how it is obtained, or why it is undefined


def balance_point(loss: Union[Loss, str], gamma: float = 2.0,
                  smoothing: float = 0.0) -> BalancePoint:
    """log(L_G / L_D) at the equilibrium, computed from the loss functions themselves.

    D's loss sums a real and a fake term while G's has one, so the balance is not at 0: with
    cross-entropy, D = 1/2 gives L_D = 2 ln 2 and L_G = ln 2, a log ratio of -ln 2 = -0.69.
    Where a loss is 0 or negative there (hinge's G loss, the Wasserstein losses, the minimax G
    loss) the log ratio is undefined and None is returned.

    smoothing: one-sided label smoothing (real target t = 1 - smoothing). Where p_data = p_g,
    D's best answer is then the score s minimising L_D(s, s, t), no longer D = 1/2: for
    cross-entropy D* = t / 2 (0.45 at smoothing 0.1), so L_D = -[t ln(t/2) + (1-t) ln(1-t/2)]
    - ln(1-t/2) = 1.376 and L_G = -ln(t/2) = 0.799: log ratio -0.54, not -0.69. Losses that
    use no targets (hinge, Wasserstein) ignore it.
    """
    loss = get_loss(loss, gamma=gamma) if isinstance(loss, str) else loss
    spec = loss.spec
    target = 1.0 - smoothing if spec.uses_targets else 1.0
    score = spec.equilibrium_score if target == 1.0 else _best_d_score(loss, target)
    s = torch.full((1,), score, dtype=torch.float64)
    d, g = float(loss.d(s, s, target)), float(loss.g(s))
    where = ("D = 1/2 (logit 0)" if not spec.raw_scores
             else f"D's score = {spec.equilibrium_score:g}")
    if target != 1.0:
        shown = float(torch.sigmoid(s)) if not spec.raw_scores else score
        where = (f"D's best answer with real target {target:g}, "
                 + (f"D = {shown:.3g}" if not spec.raw_scores else f"score {shown:.3g}"))
    if spec.gradient_penalty:
        where += ", gradient penalty aside"
    if d > 0 and g > 0:
        ratio = math.log(g / d)
        why = (f"at {where}: L_D = {d:.3g}, L_G = {g:.3g}, so log(L_G / L_D) = "
               f"log({g:.3g} / {d:.3g}) = {ratio:.2f}")
        return BalancePoint(score, d, g, ratio, why)
    bad = "L_G" if g <= 0 else "L_D"
    value = (g if g <= 0 else d) + 0.0       # + 0.0: print 0, not -0
    why = (f"undefined: at {where}, {bad} = {value:.3g}, and the log of a ratio that is not "
           f"positive does not exist")
    return BalancePoint(score, d, g, None, why)


def _best_d_score(loss: Loss, target: float) -> float:
    """The score s minimising L_D(s, s, target): D's answer where real and fake look alike.
    L_D(s, s, t) is convex in s for every loss with targets, so a ternary search on [-20, 20]
    finds it to float precision."""
    lo, hi = -20.0, 20.0
    def f(v: float) -> float:
        x = torch.full((1,), v, dtype=torch.float64)
        return float(loss.d(x, x, target))
    for _ in range(200):
        a, b = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        if f(a) < f(b):
            hi = b
        else:
            lo = a
    return (lo + hi) / 2


def balance_log_ratio(loss: Union[Loss, str], gamma: float = 2.0,
                      smoothing: float = 0.0) -> Optional[float]:
    """Where log(L_G / L_D) sits when neither player is ahead; None where undefined."""
    return balance_point(loss, gamma, smoothing).log_ratio

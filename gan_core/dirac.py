"""The Dirac-GAN (Mescheder et al. 2018, "Which training methods for GANs do actually
converge?"): the smallest GAN there is, small enough to draw its whole game as a plane.

    real data    a single point at x = 0
    generator    G(theta) = theta: it puts all its samples at one point
    critic       D(x) = psi * x: D's logit (or raw score) is the line through 0 with slope psi

The only equilibrium worth having is (theta, psi) = (0, 0): G on the data and a D that cannot
tell. The losses are the lab's own (gan_core.losses): D minimises mean(d_terms(psi*x_real,
psi*theta)) and G minimises mean(g_terms(psi*theta)), so a loss added to the registry appears
here with no second copy. By the chain rule, with f' a term's slope in the logit,

    dL_G/dtheta = psi * g'(psi theta)
    dL_D/dpsi   = x_real * d_real'(psi x_real) + theta * d_fake'(psi theta)     (x_real = 0)

and the slopes f' are taken from the registry's per-sample functions with autograd (exact, on
any loss). Regularisers, each a switch (0: off):

    r1      gamma/2 ||grad_x D(x_real)||^2 = gamma/2 psi^2: dL_D/dpsi += gamma psi
    gp      WGAN-GP, lambda (||grad_x D(x_hat)||_2 - 1)^2 = lambda (|psi| - 1)^2 at any x_hat
            between real and fake (D is linear): dL_D/dpsi += 2 lambda (|psi| - 1) sign(psi)
    noise   instance noise sigma: real and fake samples each get N(0, sigma^2) added, and the
            gradients are their expectations over that noise, by quadrature on NOISE_NODES
            evenly spaced offsets (`noise_nodes`): deterministic, no Monte Carlo

Players take plain gradient steps (no Adam), as in the paper: `alternating` (D first, as the
lab's trainer does, then G sees D's new psi) or `simultaneous` (both read the same point).
`field` is the plane's vector field, `trajectory` follows one start point, `summary` says
what the path did. Everything is float64 and vectorised over the grid. A trajectory is a loop
of up to thousands of steps, so it reads the slopes from a table filled once by the same
autograd call (`Slopes`), which keeps a redraw well under a second
(`python -m benchmarks.dirac_speed`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
import torch

from .losses import LOSSES, Loss, get_loss

UPDATES = ("alternating", "simultaneous")
NOISE_NODES = 401       # instance noise: the expectation's nodes, evenly spaced over ...
NOISE_SPAN = 8.0        # ... +-8 sigma, weighted by the normal density (trapezoid rule)
RUNAWAY = 1e3           # |theta| or |psi| beyond this: the path has run off; stop there
NEAR = 0.05             # a path ending this close to (0, 0) converged


@dataclass(frozen=True)
class DiracSettings:
    """One Dirac-GAN experiment: the game, how the players update, and where it starts."""
    loss: str = "nonsaturating"         # a key of gan_core.losses.LOSSES
    loss_params: tuple = ()             # ((name, value), ...) for the loss, e.g. (("gamma", 2),)
    update: str = "alternating"         # or "simultaneous"
    lr: float = 0.1                     # both players' step size (plain gradient descent)
    d_steps: int = 1                    # D updates per round
    g_steps: int = 1                    # G updates per round
    r1: float = 0.0                     # R1 weight gamma (0: off)
    gp: float = 0.0                     # WGAN-GP weight lambda (0: off)
    noise: float = 0.0                  # instance noise sigma (0: off)
    steps: int = 300                    # rounds to follow
    theta0: float = 1.0                 # the start point
    psi0: float = 1.0

    def validate(self) -> "DiracSettings":
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}")
        if self.update not in UPDATES:
            raise ValueError(f"update must be {' or '.join(UPDATES)}")
        for name in ("lr", "r1", "gp", "noise", "theta0", "psi0"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number")
        if self.lr <= 0 or min(self.r1, self.gp, self.noise) < 0:
            raise ValueError("lr must be above 0 and r1, gp and noise at least 0")
        if min(self.d_steps, self.g_steps, self.steps) < 1:
            raise ValueError("d_steps, g_steps and steps must be at least 1")
        return self

    def with_updates(self, **changes) -> "DiracSettings":
        return replace(self, **changes).validate()


@dataclass(frozen=True)
class Summary:
    """What a path did, in numbers and in words."""
    start_distance: float       # from (0, 0)
    end_distance: float
    ratio: float                # end over start; < 1 spirals in, about 1 circles, > 1 out
    turns: float                # times the path went round (0, 0) before it came within NEAR
    rounds: int                 # rounds actually taken (fewer when it ran off)
    verdict: str                # "converges", "spirals in slowly", "circles", "spirals out",
                                # "runs off", "stops off the data" or "drifts"
    words: str                  # one sentence for a student


def bind(s: DiracSettings) -> Loss:
    """The registry loss the settings name, with their parameters."""
    return get_loss(s.loss, **dict(s.loss_params))


def noise_nodes(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(offsets (K,), weights (K,) summing to 1) with sum w f(e) = E f(e), e ~ N(0, sigma^2).

    The trapezoid rule on an even grid over +-8 sigma: for a smooth f (every loss on logits,
    least squares) it is exact to float precision (the rule converges geometrically on such
    integrands); where f jumps (hinge's slope at its margins) it is within about 1% of
    the expectation. Gauss-Hermite nodes do worse there: 10% off at 64 nodes."""
    if sigma <= 0:
        return np.zeros(1), np.ones(1)
    z = np.linspace(-NOISE_SPAN, NOISE_SPAN, NOISE_NODES)
    w = np.exp(-z * z / 2)
    return sigma * z, w / w.sum()


def logit_slopes(loss: Loss, real_logits: torch.Tensor, fake_logits: torch.Tensor,
                 want_d: bool = True, want_g: bool = True):
    """(d_real', d_fake', g'): each per-sample loss term's derivative in its logit, at those
    logits, by autograd on the registry's own functions (they act elementwise, so the gradient
    of the sum is the derivative at each entry). None for what is not wanted."""
    with torch.enable_grad():
        r = real_logits.detach().requires_grad_(True)
        f_d = fake_logits.detach().requires_grad_(True)
        f_g = fake_logits.detach().requires_grad_(True)
        total, leaves = torch.zeros((), dtype=torch.float64), []
        if want_d:
            real, fake = loss.d_terms(r, f_d, 1.0)
            total = total + real.sum() + fake.sum()
            leaves += [r, f_d]
        if want_g:
            total = total + loss.g_terms(f_g).sum()
            leaves.append(f_g)
        grads = torch.autograd.grad(total, leaves, allow_unused=True)
    grads = [torch.zeros_like(leaf) if g is None else g for g, leaf in zip(grads, leaves)]
    d_real, d_fake = (grads[0], grads[1]) if want_d else (None, None)
    return d_real, d_fake, (grads[-1] if want_g else None)


TABLE_SPAN = 40.0       # slopes are tabulated for logits in [-TABLE_SPAN, TABLE_SPAN] ...
TABLE_STEP = 1e-3       # ... every TABLE_STEP, and interpolated linearly (error below 1e-7)


class Slopes:
    """A loss's three slopes (d_real', d_fake', g') as functions of the logit, numpy in and out.

    exact=True calls `logit_slopes` (autograd) every time. exact=False (for trajectories, a loop
    of a few thousand calls) tabulates them once with that same autograd call on a fine grid of
    logits and interpolates; logits off the table are computed exactly. Linear interpolation on
    a 0.001 grid is within 1e-7 of the exact slope for the smooth losses; at a kink (hinge's
    margin) it gives a value between the two one-sided slopes, which is a valid subgradient.
    """

    def __init__(self, loss: Loss, exact: bool = True):
        self.loss, self.exact = loss, exact
        if not exact:
            grid = torch.arange(-TABLE_SPAN, TABLE_SPAN + TABLE_STEP / 2, TABLE_STEP,
                                dtype=torch.float64)
            self.grid = grid.numpy()
            self.table = [t.numpy() for t in logit_slopes(loss, grid, grid)]

    def _exact(self, real, fake, want_d, want_g):
        out = logit_slopes(self.loss, torch.from_numpy(np.ascontiguousarray(real, np.float64)),
                           torch.from_numpy(np.ascontiguousarray(fake, np.float64)),
                           want_d, want_g)
        return [None if t is None else t.numpy() for t in out]

    def __call__(self, real: np.ndarray, fake: np.ndarray, want_d: bool = True,
                 want_g: bool = True):
        """(d_real'(real), d_fake'(fake), g'(fake)); None for what is not wanted."""
        if self.exact or max(np.abs(real).max(), np.abs(fake).max()) > TABLE_SPAN:
            return self._exact(real, fake, want_d, want_g)
        at = (lambda x, i: np.interp(x, self.grid, self.table[i]))
        return ((at(real, 0), at(fake, 1)) if want_d else (None, None)) + \
            ((at(fake, 2),) if want_g else (None,))


class Game:
    """The Dirac-GAN's gradients for one setting, on numpy arrays of any shape (a grid or a
    point); exact=False interpolates the loss's slopes from a table (see Slopes)."""

    def __init__(self, s: DiracSettings, exact: bool = True):
        self.s = s.validate()
        self.slopes = Slopes(bind(s), exact)
        self.offsets, self.weights = noise_nodes(s.noise)        # (K,), (K,)

    def gradients(self, theta, psi, want_d: bool = True, want_g: bool = True):
        """(dL_G/dtheta, dL_D/dpsi) at (theta, psi) (arrays of one shape, or floats),
        regularisers included; None for what is not wanted."""
        theta, psi = np.asarray(theta, np.float64), np.asarray(psi, np.float64)
        shape = (-1,) + (1,) * theta.ndim
        e, w = self.offsets.reshape(shape), self.weights.reshape(shape)   # (K, 1, ...)
        x_real, x_fake = e, theta + e                  # the noisy samples, (K, ...)
        l_real, l_fake = np.broadcast_arrays(psi * x_real, psi * x_fake)
        d_real, d_fake, g = self.slopes(l_real, l_fake, want_d, want_g)
        g_theta = (w * psi * g).sum(0) if want_g else None
        g_psi = None
        if want_d:
            g_psi = (w * (x_real * d_real + x_fake * d_fake)).sum(0)
            if self.s.r1:
                g_psi = g_psi + self.s.r1 * psi
            if self.s.gp:
                g_psi = g_psi + 2 * self.s.gp * (np.abs(psi) - 1) * np.sign(psi)
        return g_theta, g_psi


def field(s: DiracSettings, theta, psi) -> tuple[np.ndarray, np.ndarray]:
    """The plane's vector field at the points (theta, psi) (arrays of one shape): the way one
    simultaneous gradient step moves each player, (-dL_G/dtheta, -dL_D/dpsi), per unit of lr."""
    g_theta, g_psi = Game(s).gradients(theta, psi)
    return -g_theta, -g_psi


def trajectory(s: DiracSettings, exact: bool = False) -> np.ndarray:
    """(theta, psi) after each round, the start first: (rounds + 1, 2). A round is d_steps D
    updates and g_steps G updates; alternating runs D's then G's, simultaneous lets both read
    the same point (the player with more steps takes its extra ones alone). A path that runs
    off (beyond RUNAWAY) or turns non-finite stops there, so it may be shorter. The slopes are
    interpolated from a table unless exact=True (the same path within about 1e-6)."""
    game = Game(s, exact)
    theta, psi = float(s.theta0), float(s.psi0)
    out = np.empty((s.steps + 1, 2))
    out[0] = (theta, psi)
    for i in range(1, s.steps + 1):
        if s.update == "alternating":
            for _ in range(s.d_steps):
                psi = psi - s.lr * float(game.gradients(theta, psi, want_g=False)[1])
            for _ in range(s.g_steps):
                theta = theta - s.lr * float(game.gradients(theta, psi, want_d=False)[0])
        else:
            for k in range(max(s.d_steps, s.g_steps)):
                g_theta, g_psi = game.gradients(theta, psi, k < s.d_steps, k < s.g_steps)
                if g_theta is not None:
                    theta = theta - s.lr * float(g_theta)
                if g_psi is not None:
                    psi = psi - s.lr * float(g_psi)
        out[i] = (theta, psi)
        if not np.isfinite(out[i]).all() or np.abs(out[i]).max() > RUNAWAY:
            return out[: i + 1]
    return out


def _angle(path: np.ndarray) -> np.ndarray:
    return np.unwrap(np.arctan2(path[:, 1], path[:, 0]))


def turns(path: np.ndarray) -> float:
    """How many times the path went round (0, 0) before it came within NEAR of it (the tiny
    turns after that are invisible and would only inflate the count): its unwrapped angle
    over 2 pi."""
    near = np.flatnonzero(np.hypot(path[:, 0], path[:, 1]) < NEAR)
    seen = path[: near[0] + 1] if len(near) else path
    angle = _angle(seen)
    return float(abs(angle[-1] - angle[0]) / (2 * math.pi)) if len(seen) > 1 else 0.0


def lap_change(path: np.ndarray) -> Optional[float]:
    """Mean distance to (0, 0) over the path's last full turn, over that of the turn before
    (None with fewer than two turns): 1 on a closed orbit, below 1 spiralling in, above out.
    Means over whole turns, so an elliptic orbit's wobble within a turn does not count."""
    angle = np.abs(_angle(path) - _angle(path)[-1])
    one, two = np.searchsorted(-angle, [-2 * math.pi, -4 * math.pi])    # angle falls to 0
    if two >= len(path) or angle[0] < 4 * math.pi:
        return None
    dist = np.hypot(path[:, 0], path[:, 1])
    # the last turn is path[one:], the one before it path[two:one] (angle decreases along)
    return float(dist[one:].mean() / dist[two:one].mean())


CLOSED = 0.01           # a turn's mean distance within 1% of the turn before: a closed orbit


def summary(path: np.ndarray, steps: Optional[int] = None) -> Summary:
    """What the path did: distances to (0, 0) at its start and end, their ratio, its turns,
    and a verdict. `steps`: the rounds asked for (a shorter path ran off)."""
    dist = np.hypot(path[:, 0], path[:, 1])
    start, end = float(dist[0]), float(dist[-1])
    ratio = end / start if start > 0 else (math.inf if end > 0 else 1.0)
    n, laps = len(path) - 1, turns(path)
    tail = path[-max(2, len(path) // 10):]
    moving = float(np.abs(np.diff(tail, axis=0)).max()) if len(tail) > 1 else 0.0
    change = lap_change(path)
    trip = f"distance {start:.2f} at the start, {end:.2f} at the end"
    if not np.isfinite(path[-1]).all() or (steps is not None and n < steps):
        verdict, words = "runs off", f"runs off the plane after {n} rounds"
    elif end < NEAR:
        verdict = "converges"
        words = (f"spirals in to (0, 0), going round {laps:.1f} times on the way" if laps >= 0.5
                 else "goes almost straight to (0, 0)")
        words += f": distance {start:.2f} at the start, {end:.3f} at the end"
    elif moving < 1e-4 * max(1.0, start):
        verdict = "stops off the data"
        words = (f"stops at theta = {path[-1, 0]:.2f}, psi = {path[-1, 1]:.2f}, away from the "
                 f"real point: neither player's gradient moves it any more")
    elif change is not None and abs(change - 1) < CLOSED:
        verdict = "circles"
        words = (f"circles round (0, 0) for good ({laps:.1f} turns): the last turn keeps the "
                 f"same distance as the one before, about {dist[-len(path) // 10:].mean():.2f}")
    elif (change is not None and change > 1) or (change is None and ratio > 1.5):
        verdict, words = "spirals out", f"spirals out, going round {laps:.1f} times: {trip}"
    elif (change is not None and change < 1) or (change is None and ratio < 0.5):
        verdict = "spirals in slowly"
        words = f"spirals in, but slowly ({laps:.1f} turns): {trip}"
    elif laps >= 0.75:
        verdict, words = "circles", f"circles round (0, 0) {laps:.1f} times: {trip}"
    else:
        verdict, words = "drifts", f"drifts without circling: {trip}"
    return Summary(start, end, ratio, laps, n, verdict, words)

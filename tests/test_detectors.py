"""The detectors that name what happens in a run (gan_core.detectors), on built histories."""
import math
import random

import pytest
import torch

from gan_core import detectors as D
from gan_core.detectors import Look


def history(n, d_real, d_fake, loss="nonsaturating", g_loss=0.7, noise=0.0, seed=0):
    """n step records; d_real/d_fake/g_loss are numbers or functions of the step."""
    rng = random.Random(seed)

    def at(v, step):
        return v(step) if callable(v) else v
    return [dict(step=s, d_real=at(d_real, s) + rng.uniform(-noise, noise),
                 d_fake=min(max(at(d_fake, s) + rng.uniform(-noise, noise), 0.0), 1.0),
                 g_loss=at(g_loss, s), d_loss=1.3, loss=loss) for s in range(1, n + 1)]


def test_d_wins_when_d_is_sure_of_both_and_not_at_balance():
    h = history(400, lambda s: 0.5 if s <= 100 else 0.97, lambda s: 0.5 if s <= 100 else 0.02)
    eps = D.d_wins(h)
    assert len(eps) == 1 and eps[0].ongoing
    # the 100-step average crosses the thresholds some steps after the change at step 100
    assert 150 <= eps[0].start <= 200
    assert "D is winning" in eps[0].text and str(eps[0].start) in eps[0].text
    assert D.d_wins(history(300, 0.55, 0.45, noise=0.1)) == []


def test_d_wins_ends_when_g_catches_up():
    h = history(400, lambda s: 0.97 if s <= 200 else 0.55, lambda s: 0.02 if s <= 200 else 0.45)
    (ep,) = D.d_wins(h)
    assert ep.end is not None and 200 < ep.end < 300
    assert "was winning" in ep.text


def test_raw_score_losses_are_not_read_as_probabilities():
    # hinge records raw scores: 3.0 and -3.0 would look like a D win if read as probabilities
    h = history(300, 3.0, -3.0, loss="hinge")
    assert D.d_wins(h) == [] and D.d_fooled(h) == [] and D.g_vanished(h) == []


def test_g_vanished_for_the_saturating_loss_only():
    minimax = history(200, 0.99, 0.01, loss="minimax")
    nonsat = history(200, 0.99, 0.01, loss="nonsaturating")
    assert D.first(D.g_vanished(minimax), "g_vanished") == 50
    assert D.g_vanished(nonsat) == []       # -log D(G(z)) pushes hardest exactly here


def test_push_on_g_matches_the_losses_derivatives():
    # minimax G loss log(1 - sigmoid(l)): derivative -sigmoid(l) = -p; non-saturating: -(1 - p)
    assert D.push_on_g("minimax", [0.2, 0.5])[0] == pytest.approx(0.2, rel=1e-6)
    assert D.push_on_g("nonsaturating", [0.2])[0] == pytest.approx(0.8, rel=1e-6)


def test_g_vanished_ends_after_switching_to_the_non_saturating_loss():
    h = history(300, 0.99, 0.01, loss="minimax")
    for r in h[150:]:
        r["loss"] = "nonsaturating"
    (ep,) = D.g_vanished(h)
    assert ep.start == 50 and ep.end == 151


def test_d_fooled_and_its_flicker_is_one_episode():
    h = history(400, 0.5, lambda s: 0.7 if (s // 40) % 4 != 3 else 0.45)
    eps = D.d_fooled(h)
    assert len(eps) == 1, eps      # dips shorter than the window do not split it


def test_collapse_needs_samples_that_look_like_data():
    noise = [Look(s, 1, 10, 0.0) for s in range(0, 300, 20)]
    assert D.collapse(noise) == []                              # early blobs: not collapse
    few = [Look(s, 2, 10, 0.6) for s in range(0, 300, 20)]
    (ep,) = D.collapse(few)
    # after the warm-up, two of the last three looks
    assert ep.start == 120 and ep.ongoing and "2 of 10 digit classes" in ep.text
    healthy = [Look(s, 9, 10, 0.7) for s in range(0, 300, 20)]
    assert D.collapse(healthy) == []
    # a G that hops between a digit and a blob still counts, a single stray look does not
    hopping = [Look(s, 1, 10, 0.3 if (s // 20) % 3 else 0.0) for s in range(0, 300, 20)]
    assert D.first(D.collapse(hopping), "collapse") is not None
    stray = [Look(s, 2 if s == 160 else 8, 10, 0.5) for s in range(0, 300, 20)]
    assert D.collapse(stray) == []


def test_image_looks_count_the_classes_that_hold_most_recognisable_samples():
    from gan_core.metrics import Judge

    class ClassInPixel(torch.nn.Module):
        def forward(self, x):           # the class written in pixel 0, one-hot
            return torch.nn.functional.one_hot(x[:, 0, 0, 0].round().long().clamp(0, 9),
                                               10).float()

    judge = Judge()                     # the real judge's pipeline, with a body that is sure
    judge.body = ClassInPixel()
    judge.head = torch.nn.Linear(10, 10)
    with torch.no_grad():
        judge.head.weight.copy_(20 * torch.eye(10))
        judge.head.bias.zero_()

    def images(classes):
        x = torch.zeros(len(classes), 1, 28, 28)
        x[:, 0, 0, 0] = torch.tensor(classes, dtype=torch.float32)
        return x
    one_kind = D.look_at_images(5, images([3] * 60 + [4] * 4), judge)
    assert one_kind.covered == 1 and one_kind.looks_real == 1.0    # 60 of 64 is over 90%
    varied = D.look_at_images(5, images(list(range(10)) * 6 + [0] * 4), judge)
    assert varied.covered == 9


def test_collapse_of_2d_points_as_a_clump_after_the_warm_up():
    clump = [Look(s, 0, 8, 0.0, spread=0.05) for s in range(0, 400, 10)]
    (ep,) = D.collapse(clump)
    assert ep.start == D.CLUMP_WARMUP + 10            # two looks after the warm-up
    assert "clump" in ep.text
    spread = [Look(s, 8, 8, 0.9, spread=0.97) for s in range(0, 400, 10)]
    assert D.collapse(spread) == []


def test_circling_on_swinging_d_and_not_on_noise():
    swing = history(800, 0.6, lambda s: 0.5 + 0.3 * math.sin(2 * math.pi * s / 80))
    assert D.first(D.circling(swing), "circling") is not None
    calm = history(800, 0.6, 0.45, noise=0.05)
    assert D.circling(calm) == []


def test_circling_on_2d_points_that_never_settle():
    h = history(1000, 0.5, 0.5)
    moving = [Look(s, 0, 25, 0.0, 1.0, motion=0.15) for s in range(10, 1000, 10)]
    settling = [Look(s, 8, 8, 0.9, 1.0, motion=0.2 if s < 300 else 0.01)
                for s in range(10, 1000, 10)]
    (ep,) = D.circling(h, moving)
    assert ep.start == D.WARMUP_2D and "points keep moving" in ep.text
    assert D.circling(h, settling) == []     # fast early travel is not non-convergence


def test_looks_from_points_and_images():
    from gan_core.datasets import toy_modes
    modes = toy_modes("ring")
    points = modes.repeat(64, 1) + 0.01 * torch.randn(512, 2, generator=torch.Generator().manual_seed(0))
    data_spread = D.spread_of(points)
    lk = D.look_at_points(20, points, "ring", data_spread, previous=(10, points + 0.1))
    assert lk.covered == 8 and lk.of == 8 and lk.spread == pytest.approx(1.0)
    assert lk.motion == pytest.approx(math.hypot(0.1, 0.1) / 10, rel=1e-3)
    clump = torch.zeros(512, 2) + modes[0]
    assert D.look_at_points(30, clump, "ring", data_spread).covered == 1
    assert D.look_at_points(30, clump, "ring", data_spread).spread < 0.01


def test_an_early_lead_of_d_is_not_a_win():
    # every run starts with D ahead: D(G(z)) near 0.08 for 100 steps, then G catches up
    h = history(400, 0.92, lambda s: 0.08 if s <= 100 else 0.2)
    assert D.d_wins(h) == []


def test_d_unsure_when_g_keeps_pace_and_not_on_the_2d_sets():
    h = history(300, 0.6, lambda s: 0.1 if s <= 50 else 0.4)
    (ep,) = D.d_unsure(h)
    assert 100 <= ep.start <= 130 and "keeps pace" in ep.text
    assert D.d_unsure(history(300, 0.8, 0.18, noise=0.05)) == []
    assert [e.kind for e in D.narrate(h)] == ["d_unsure"]
    assert D.narrate(h, points=True) == []        # D(G(z)) near 0.5: the settled 2-D game


def test_narrate_orders_episodes_and_first_finds_a_kind():
    h = history(300, 0.98, 0.02, loss="minimax")
    eps = D.narrate(h)
    assert [e.kind for e in eps] == ["g_vanished", "d_wins"]
    assert D.first(eps, "d_wins") == 100 and D.first(eps, "g_vanished") == 50
    assert D.first(eps, "collapse") is None


class _Growing(list):
    """A live run's history: the trainer's thread appends a record whenever it is read."""

    def __iter__(self):
        it = iter(self[:])                # a plain list: what was there when asked
        self.append(dict(self[-1], step=self[-1]["step"] + 1))
        return it


def test_narrate_reads_a_history_that_grows_while_it_is_read():
    # The Class page narrated each live run's own list; a record appended between two of a
    # detector's passes made them disagree on its length (IndexError in g_vanished).
    live = _Growing(history(200, 0.99, 0.01, loss="minimax"))
    eps = D.narrate(live)
    assert D.first(eps, "g_vanished") == 50

"""The Dirac-GAN page's logic (lab_app.phase, no Streamlit): links read back exactly, hostile
link values become one clamped line each, the scenes do what they say, and the figure carries
the path it was given."""
import math

import numpy as np
import pytest

from gan_core.dirac import DiracSettings, field, summary, trajectory
from gan_core.losses import LOSSES
from lab_app import phase
from lab_app.phase import (
    DEFAULT,
    SCENES,
    clicked_point,
    params_of,
    plane_figure,
    settings_from_params,
    settings_from_widgets,
    widget_state,
)


def test_an_empty_link_is_the_default_plane():
    assert settings_from_params({}) == (DEFAULT, [])


def test_a_link_reads_back_exactly():
    s = DiracSettings(loss="focal", loss_params=(("gamma", 0.5),), update="simultaneous",
                      lr=0.05, d_steps=3, g_steps=2, r1=0.7, gp=0.2, noise=0.4, steps=250,
                      theta0=-1.25, psi0=2.0)
    assert settings_from_params(params_of(s)) == (s, [])
    assert settings_from_params(params_of(DEFAULT)) == (DEFAULT, [])


@pytest.mark.parametrize("key,raw,attr,value,says", [
    ("lr", "7", "lr", 1.0, "above 1; 1 is used"),
    ("lr", "-1", "lr", 0.001, "below 0.001"),
    ("lr", "0", "lr", 0.001, "below 0.001"),
    ("lr", "inf", "lr", DEFAULT.lr, "not a finite number"),
    ("lr", "nan", "lr", DEFAULT.lr, "not a finite number"),
    ("theta", "abc", "theta0", DEFAULT.theta0, "not a number"),
    ("psi", "-1e308", "psi0", -2.5, "below -2.5"),
    ("d_steps", "2.5", "d_steps", 1, "not a whole number"),
    ("g_steps", "99", "g_steps", 5, "above 5"),
    ("steps", "1e9", "steps", 1000, "above 1000"),
    ("r1", "-0.5", "r1", 0.0, "below 0"),
    ("noise", "1" * 400, "noise", 2.0, "above 2"),
    ("update", "both", "update", DEFAULT.update, "not one of alternating, simultaneous"),
    ("loss", "vanilla", "loss", DEFAULT.loss, "not one of minimax"),
])
def test_a_bad_link_value_is_clamped_or_replaced_with_one_line(key, raw, attr, value, says):
    s, messages = settings_from_params({key: raw})
    assert getattr(s, attr) == value
    assert len(messages) == 1 and says in messages[0] and messages[0].startswith(f"{key}: ")
    assert "\n" not in messages[0] and len(messages[0]) < 200      # the value is shortened


def test_bad_values_do_not_spoil_the_good_ones():
    s, messages = settings_from_params({"loss": "hinge", "lr": "x", "r1": "0.3", "psi": "9",
                                        "unknown": "ignored", "gamma": "3"})
    assert (s.loss, s.lr, s.r1, s.psi0) == ("hinge", DEFAULT.lr, 0.3, 2.5)
    assert s.loss_params == ()              # hinge has no gamma: the key is ignored
    assert [m.split(":")[0] for m in messages] == ["lr", "psi"]
    focal, messages = settings_from_params({"loss": "focal", "gamma": "30"})
    assert focal.loss_params == (("gamma", 10.0),) and "above 10" in messages[0]


def test_a_hostile_value_stays_plain_text_in_its_message():
    _, (msg,) = settings_from_params({"loss": "[x](http://evil.example)\n# big"})
    assert "\n" not in msg                  # short_repr quotes it; the page escapes it
    assert msg.startswith("loss: '[x](http://evil.example)")


def test_widgets_show_a_plane_and_give_it_back():
    for s in (DEFAULT, DiracSettings(loss="focal", loss_params=(("gamma", 1.5),), r1=0.2,
                                     noise=0.9, update="simultaneous", theta0=-2.0)):
        state = widget_state(s)
        assert settings_from_widgets(state) == s
    state = widget_state(DEFAULT)
    assert state["dirac_r1_on"] is False and state["dirac_r1"] == phase.SWITCHED["r1"]
    state["dirac_r1_on"] = True             # switched on: the value it kept
    assert settings_from_widgets(state).r1 == phase.SWITCHED["r1"]


@pytest.mark.parametrize("name", list(SCENES))
def test_each_scene_does_what_it_says(name):
    scene = SCENES[name]
    s, messages = settings_from_params(scene.params)
    assert messages == []
    assert summary(trajectory(s), s.steps).verdict == scene.verdict


def test_the_figure_draws_the_path_it_is_given():
    s = DiracSettings(loss="wgan-gp", update="simultaneous", lr=0.3, steps=40)
    path = trajectory(s)
    result = summary(path, s.steps)
    fig = plane_figure(s, path, result)
    names = [t.name for t in fig.data]
    assert names[0] == phase.CLICK          # clicked_point reads curve 0
    got = fig.data[names.index(phase.PATH)]
    assert np.allclose(np.asarray(got.x), path[:, 0]) and np.allclose(np.asarray(got.y),
                                                                      path[:, 1])
    assert tuple(fig.data[names.index(phase.END)].x) == (path[-1, 0],)
    assert fig.layout.meta["end_distance"] == result.end_distance
    assert fig.layout.meta["verdict"] == result.verdict == "spirals out"
    extent = phase.extent_for(path)         # the plane grows to keep the path in view
    assert fig.layout.xaxis.range == (-extent, extent) and extent > phase.EXTENT
    arrows = fig.data[1]
    assert np.nanmax(np.abs(np.asarray(arrows.x, float))) <= extent


def test_arrows_follow_the_field():
    """Every arrow's shaft points along the field at its middle (float32 ends: cos > 0.999)."""
    s = DiracSettings(loss="nonsaturating", r1=0.5)
    x, y = phase.field_arrows(s, 2.5)
    xy = np.stack([x, y], 1).reshape(-1, 9, 2)       # start, tip, gap, ... (views.arrow_lines)
    starts, tips = xy[:, 0], xy[:, 1]
    mid = (starts + tips) / 2
    v = np.stack(field(s, mid[:, 0], mid[:, 1]), 1)
    d = tips - starts
    cos = (v * d).sum(1) / (np.hypot(*v.T) * np.hypot(*d.T))
    assert np.all(cos > 0.999)
    assert len(starts) == phase.ARROWS ** 2 - 1         # none at (0, 0), where nothing moves


@pytest.mark.parametrize("event,want", [
    (None, None), ({}, None), ({"selection": None}, None),
    ({"selection": {"points": "x"}}, None),
    ({"selection": {"points": [{"curve_number": 3, "x": 0.5, "y": 0.5}]}}, None),
    ({"selection": {"points": [{"curve_number": 0, "x": "1", "y": 0.5}]}}, None),
    ({"selection": {"points": [{"curve_number": 0, "x": math.nan, "y": 0.5}]}}, None),
    ({"selection": {"points": [{"curve_number": 0, "x": -1.5, "y": 1.0}]}}, (-1.5, 1.0)),
    ({"selection": {"points": [{"curve_number": 0, "x": 5.8, "y": -0.123}]}}, (2.5, -0.12)),
])
def test_a_click_is_read_safely(event, want):
    assert clicked_point(event) == want


def test_the_train_page_link_opens_the_circling_plane():
    target = phase.TRAIN_LINK.split("](")[1].split(")")[0]
    assert target.startswith("dirac?")
    params = dict(p.split("=") for p in target[len("dirac?"):].split("&"))
    s, messages = settings_from_params(params)
    assert messages == [] and s.r1 == 0 and s.loss in LOSSES
    assert summary(trajectory(s)).verdict != "converges"

"""The Train page's setting widgets, drawn from each field's Control (lab_app.controls) within
its Setting's range and choices (gan_core.config).

`draw(name)` draws one field's widget with its range, step, label and help; `draw_more()` every
widget of the "More" section, so a new setting appears there without a page edit.
Keys and values are lab_app.settings' (widget_keys, widget_state, values_from_widgets).
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from gan_core.config import SETTINGS, field_kind
from gan_core.losses import LOSSES
from lab_app.controls import CONTROLS
from lab_app.settings import LOSS_PARAM_FIELDS, WIDGET_FIELDS, loss_param_fields, widget_keys

FORMATS = {"loss": lambda k: LOSSES[k].title}     # how a select shows its options


def _range(name: str) -> tuple[Any, Any]:
    s, c, kind = SETTINGS[name], CONTROLS[name], field_kind(name)[0]
    lo = c.lo if c.lo is not None else s.lo
    return kind(lo), kind(s.hi)


def draw(name: str, where: Any = None, disabled: bool = False) -> Any:
    """Draw field `name`'s widget in `where` (default: the page) and return its value."""
    where = st if where is None else where
    s, c, keys = SETTINGS[name], CONTROLS[name], widget_keys(name)
    label, help_ = c.label or name, c.help or s.help or None
    number = {k: v for k, v in dict(step=c.step, format=c.fmt).items() if v is not None}
    if c.kind == "select":
        return where.selectbox(label, list(s.choices), key=keys["value"], help=help_,
                               disabled=disabled, format_func=FORMATS.get(name, str))
    if c.kind == "checkbox":
        return where.checkbox(label, key=keys["value"], help=help_, disabled=disabled)
    if c.kind == "slider":
        lo, hi = _range(name)
        return where.slider(label, lo, hi, key=keys["value"], help=help_, disabled=disabled,
                            **number)
    if c.kind == "number":
        lo, hi = _range(name)
        return where.number_input(label, lo, hi, key=keys["value"], help=help_,
                                  disabled=disabled, **number)
    if c.kind == "zero_off":
        hi = field_kind(name)[0](s.hi)
        return where.number_input(label, 0, hi, key=keys["value"], help=help_,
                                  disabled=disabled, **number)
    if c.kind == "toggle_number":        # on/off, then the value when on
        on = where.checkbox(c.toggle or label, key=keys["on"], help=help_, disabled=disabled)
        lo, hi = _range(name)
        where.number_input(label, lo, hi, key=keys["value"], disabled=disabled or not on,
                           **number)
        return on
    if c.kind == "toggle_text":
        return where.checkbox(c.toggle or label, key=keys["on"], help=help_, disabled=disabled)
    raise ValueError(f"{name}: unknown widget kind {c.kind!r}")


def draw_loss_params(loss: str, where: Any = None) -> None:
    """The widgets of every loss parameter the page can set (e.g. focal loss's gamma), each
    enabled only when `loss` takes it: a new loss with a parameter needs no page edit."""
    for name in LOSS_PARAM_FIELDS:
        draw(name, where, disabled=name not in loss_param_fields(loss))


def draw_more(where: Any = None) -> None:
    """Every generated widget of the "More" section (Control.more), in the config's order:
    a new setting appears here without a page edit."""
    for name in WIDGET_FIELDS:
        if CONTROLS[name].more:
            draw(name, where)

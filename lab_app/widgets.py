"""The Train page's setting widgets, drawn from each field's Setting (gan_core.config).

`draw(name)` draws one field's widget with its range, step, label and help; `draw_more()` every
widget of the "More" section, so a new setting appears there without a page edit.
Keys and values are lab_app.settings' (widget_keys, widget_state, values_from_widgets).
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from gan_core.config import SETTINGS, field_kind
from gan_core.losses import LOSSES
from lab_app.settings import WIDGET_FIELDS, widget_keys

FORMATS = {"loss": lambda k: LOSSES[k].title}     # how a select shows its options


def _range(name: str) -> tuple[Any, Any]:
    s, kind = SETTINGS[name], field_kind(name)[0]
    lo = s.ui_lo if s.ui_lo is not None else s.lo
    return kind(lo), kind(s.hi)


def draw(name: str, where: Any = None, disabled: bool = False) -> Any:
    """Draw field `name`'s widget in `where` (default: the page) and return its value."""
    where = st if where is None else where
    s, keys = SETTINGS[name], widget_keys(name)
    label, help_ = s.label or name, s.ui_help or s.help or None
    number = dict(step=s.step, format=s.fmt) if s.step or s.fmt else {}
    number = {k: v for k, v in number.items() if v is not None}
    if s.widget == "select":
        return where.selectbox(label, list(s.choices), key=keys["value"], help=help_,
                               disabled=disabled, format_func=FORMATS.get(name, str))
    if s.widget == "checkbox":
        return where.checkbox(label, key=keys["value"], help=help_, disabled=disabled)
    if s.widget == "slider":
        lo, hi = _range(name)
        return where.slider(label, lo, hi, key=keys["value"], help=help_, disabled=disabled,
                            **number)
    if s.widget == "number":
        lo, hi = _range(name)
        return where.number_input(label, lo, hi, key=keys["value"], help=help_,
                                  disabled=disabled, **number)
    if s.widget == "zero_off":
        hi = field_kind(name)[0](s.hi)
        return where.number_input(label, 0, hi, key=keys["value"], help=help_,
                                  disabled=disabled, **number)
    if s.widget == "toggle_number":        # on/off, then the value when on
        on = where.checkbox(s.toggle or label, key=keys["on"], help=help_, disabled=disabled)
        lo, hi = _range(name)
        where.number_input(label, lo, hi, key=keys["value"], disabled=disabled or not on,
                           **number)
        return on
    if s.widget == "toggle_text":
        return where.checkbox(s.toggle or label, key=keys["on"], help=help_, disabled=disabled)
    raise ValueError(f"{name}: unknown widget kind {s.widget!r}")


def draw_more(where: Any = None) -> None:
    """Every generated widget of the "More" section (Setting.more), in the config's order:
    a new setting appears here without a page edit."""
    for name in WIDGET_FIELDS:
        if SETTINGS[name].more:
            draw(name, where)

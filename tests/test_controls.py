"""The Train page's controls (lab_app.controls) fit the engine's settings (gan_core.config)."""
from __future__ import annotations

from gan_core.config import SETTINGS, TrainConfig, field_kind
from lab_app.controls import CONTROLS

KINDS = {"number", "slider", "select", "checkbox", "zero_off", "toggle_number", "toggle_text"}


def test_every_control_is_a_config_field_with_a_kind_that_fits_its_type():
    for name, c in CONTROLS.items():
        assert name in SETTINGS, f"{name} is not a TrainConfig field"
        assert c.kind in KINDS, (name, c.kind)
        kind, optional = field_kind(name)
        s = SETTINGS[name]
        if c.kind in ("number", "slider"):
            assert kind in (int, float) and s.lo is not None and not optional, name
        if c.kind == "select":
            assert s.choices, f"{name}: a select needs the setting's choices"
        if c.kind in ("zero_off", "toggle_number"):
            assert optional and s.zero_is_off, f"{name}: 0/off needs an optional setting"
        if c.kind == "toggle_number":
            TrainConfig(**{name: c.on_value}).validate()        # its value when switched on
        if c.kind == "toggle_text":
            assert kind is str and c.on_value


def test_the_engine_holds_no_page_copy():
    """Setting has no widget, label or student help: those are the app's."""
    fields = set(next(iter(SETTINGS.values())).__dataclass_fields__)
    assert not fields & {"widget", "label", "key", "ui_help", "ui_lo", "step", "fmt", "toggle",
                         "on_value", "more"}

"""The Dirac-GAN page in Streamlit's AppTest: it draws the plane its link or its widgets ask
for, says what the path did, writes its settings back to the link, and the Home lesson opens it
in the circling setting."""
import json
from pathlib import Path

import pytest
from apphelpers import STUB_PAGES, page, stub_navigation

from lab_app.lessons import LESSONS
from lab_app.phase import SCENES


def meta(at) -> dict:
    """The summary the figure carries (lab_app.phase.plane_figure's layout.meta)."""
    (chart,) = at.get("plotly_chart")
    return json.loads(chart.proto.spec)["layout"]["meta"]


def test_the_page_opens_on_the_lab_s_own_game_and_writes_its_link():
    at = page("dirac").run()
    assert not at.exception and not at.warning
    assert meta(at)["verdict"] == "spirals in slowly"
    assert dict(at.query_params)["loss"] == "nonsaturating"
    assert dict(at.query_params)["r1"] == "0"
    assert any(m.value.startswith("**This path spirals in, but slowly") for m in at.markdown)


def test_switching_r1_on_lands_the_path_on_the_real_point():
    at = page("dirac", **LESSONS["why-circle"].params).run()
    before = meta(at)
    assert before["verdict"] == "circles" and before["end_distance"] > 0.3
    at.toggle(key="dirac_r1_on").set_value(True).run()
    assert not at.exception
    after = meta(at)
    assert after["verdict"] == "converges" and after["end_distance"] < 0.05
    assert dict(at.query_params)["r1"] == "0.5"


@pytest.mark.parametrize("name", list(SCENES))
def test_each_scene_button_sets_up_its_scene(name):
    at = page("dirac", loss="hinge", lr="0.5", theta="-2").run()
    at.button(key=f"dirac_scene_{name}").click().run()
    assert not at.exception
    assert meta(at)["verdict"] == SCENES[name].verdict
    assert at.number_input(key="dirac_theta").value == 1.0        # from the scene's defaults


def test_a_hostile_link_gets_a_warning_per_bad_value_and_a_working_page():
    at = page("dirac", loss="[x](http://evil.example)", lr="7", d_steps="2.5", psi="-1e308",
              update=":red[both]").run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 5               # loss, update, lr, d_steps, psi
    assert all("](http" not in w and ":red[" not in w for w in warnings)   # escaped
    assert at.number_input(key="dirac_lr").value == 1.0
    assert at.number_input(key="dirac_psi").value == -2.5
    assert at.number_input(key="dirac_d_steps").value == 1
    assert meta(at)["verdict"]              # the plane is drawn all the same


def test_a_loss_parameter_from_the_link_reaches_its_widget():
    at = page("dirac", loss="focal", gamma="0").run()
    assert not at.exception
    assert at.number_input(key="dirac_gamma").value == 0.0
    assert not at.number_input(key="dirac_gamma").disabled
    assert dict(at.query_params)["gamma"] == "0"


def test_the_home_lesson_opens_the_plane_in_the_circling_setting(tmp_path):
    lesson = LESSONS["why-circle"]
    at = stub_navigation(tmp_path).run()
    assert not at.exception
    at.button(key="home_preset_why-circle").click().run()
    assert not at.exception
    assert at.title[0].value == STUB_PAGES[Path(lesson.page).stem]
    assert json.loads(at.json[0].proto.body) == lesson.params
    assert "R1" in lesson.blurb

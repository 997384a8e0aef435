"""The Compare page: two runs in lockstep on the same start, side by side."""

import json

from apphelpers import finish_jobs, page


def test_renders_with_the_flgan_question_by_default():
    at = page("compare", dataset="ring").run()
    assert not at.exception
    assert at.selectbox(key="c_A_loss").value == "focal"
    assert at.checkbox(key="c_A_clip").value is True
    assert at.selectbox(key="c_B_loss").value == "nonsaturating"
    assert at.checkbox(key="c_B_clip").value is False


def test_lesson_link_sets_both_sides():
    at = page("compare", dataset="ring", a="hinge", b="lsgan", epochs=2).run()
    assert not at.exception
    assert at.selectbox(key="c_A_loss").value == "hinge"
    assert at.selectbox(key="c_B_loss").value == "lsgan"
    assert at.number_input(key="c_epochs").value == 2


def test_training_both_shows_two_headed_columns_at_the_same_step():
    at = page("compare", dataset="ring", epochs=2)
    at.session_state["owner_key"] = "compare-test-key-0123456789"
    at.run()
    at.button[0].click().run()
    assert not at.exception
    run = finish_jobs(at)[-1]
    a, b = run.job.trainers
    assert a.step == b.step == a.total_steps
    assert a.dataset is b.dataset
    at.run()
    assert not at.exception
    heads = [h.value for h in at.subheader]
    assert any("Focal" in h for h in heads) and any("Non-saturating" in h for h in heads)
    assert len(at.latex) >= 2
    assert len(at.metric) == 6
    # the live charts (lab_app.livecharts): both runs' curves, the second dashed
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert [" ".join(s["title"]["text"]) for s in specs] == [
        "Generator and discriminator losses", "What D believes: D(x) and D(G(z))"]
    assert all("strokeDash" in json.dumps(s) for s in specs)
    # Both sides are kept on the server for this browser, labelled.
    from lab_app.saved import list_saved
    kept = list_saved("compare-test-key-0123456789")
    assert sorted(m["label"][:2] for m in kept) == ["A:", "B:"]
    assert {m["name"] for m in kept} == {run.name} and all(m["state"] == "finished" for m in kept)

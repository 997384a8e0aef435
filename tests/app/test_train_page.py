"""The Train page in AppTest: renders, trains a toy run, shows progress, answers bad input."""
import json

from apphelpers import finish_jobs, page


def test_renders_without_a_run():
    at = page("train", dataset="ring").run()
    assert not at.exception
    assert any("Start training" in b.label for b in at.button)
    assert any("Press **Start training**" in i.value or "Start training" in i.value
               for i in at.info)


def test_a_toy_run_shows_progress_charts_and_downloads():
    at = page("train", dataset="ring", epochs=2).run()
    at.button[0].click().run()
    assert not at.exception
    runs = finish_jobs(at)
    trainer = runs[-1].job.trainer
    assert trainer.state == "finished" and trainer.step == trainer.total_steps > 0
    at.run()
    assert not at.exception
    assert any("Finished" in s.value for s in at.success)
    assert len(at.get("plotly_chart")) >= 1         # the toy map
    charts = at.get("vega_lite_chart")         # the training charts (lab_app.livecharts)
    assert len(charts) == 5, [c.type for c in at.main]
    specs = [json.loads(c.proto.spec) for c in charts]
    titles = [" ".join(s["title"]["text"]) for s in specs]
    assert titles[0] == "Generator and discriminator losses" and "modes covered" in titles[4]
    downloads = [d.proto.label for d in at.get("download_button")]
    # this run's four downloads, then the saved runs' list (this one, kept on the server)
    assert downloads == ["Samples PNG", "Progress GIF", "History CSV", "Checkpoint", "Report (HTML)",
                         "Checkpoint"]
    assert any("Your saved runs (1)" in e.label for e in at.expander)
    # The History CSV keeps the quality columns, as the command line and saved runs write them.
    assert any("m_modes_covered" in r for r in trainer.history)
    files = at.session_state["downloads"]         # each made when its button is pressed
    header = files["csv"]().decode().splitlines()[0].split(",")
    assert "m_modes_covered" in header and "m_high_quality_share" in header
    assert files["png"]().startswith(b"\x89PNG") and files["gif"]().startswith(b"GIF8")
    assert files["ckpt"]() == trainer.checkpoint_path.read_bytes()


def test_settings_from_the_url_fill_the_widgets():
    at = page("train", dataset="ring", latent_dim=5, loss="hinge", g_steps=4).run()
    assert not at.exception
    assert at.number_input(key="t_latent_dim").value == 5
    assert at.selectbox(key="t_loss").value == "hinge"
    assert at.number_input(key="t_g_steps_per_d_step").value == 4


def test_bad_url_values_show_a_message_not_a_traceback():
    at = page("train", dataset="ring", latent_dim="-3", lr_g="fast").run()
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    assert "latent_dim" in text and "lr_g" in text


def test_an_impossible_combination_is_explained_beside_the_fields():
    at = page("train", dataset="ring").run()
    at.selectbox(key="t_loss").set_value("hinge").run()
    at.slider(key="t_label_smoothing").set_value(0.1).run()
    assert not at.exception
    assert any("label_smoothing" in e.value for e in at.error)
    start = next(b for b in at.button if b.label == "Start training")
    assert start.disabled


def test_batch_larger_than_the_data_is_refused_with_advice():
    at = page("train", dataset="ring", subset=50, batch_size=128).run()
    at.button[0].click().run()
    assert not at.exception
    assert any("batch_size" in e.value and "at most 50" in e.value for e in at.error)


def test_switching_the_loss_mid_run_is_marked():
    at = page("train", dataset="ring", epochs=200).run()
    at.button[0].click().run()
    runs = at.session_state["runs"]
    job = runs[-1].job
    job.pause()
    import time
    deadline = time.time() + 20
    while job.trainer.state != "paused" and time.time() < deadline:
        time.sleep(0.02)
    at.run()
    assert not at.exception
    at.selectbox(key="live_loss").set_value("minimax").run()
    at.button(key="live_apply").click().run()
    assert not at.exception
    job.resume()
    deadline = time.time() + 20
    while not job.trainer.markers and time.time() < deadline:
        time.sleep(0.02)
    at.run()               # the progress line says when the next quality check comes
    (progress,) = at.get("progress")
    step = int(progress.proto.text.split("next quality check at step ")[1].split()[0])
    assert step % 20 == 0 and step > job.trainer.markers[0]["step"]
    job.stop()
    finish_jobs(at)
    marker = job.trainer.markers[0]
    assert marker["changes"]["loss"] == "minimax"
    assert job.trainer.history[-1]["loss"] == "minimax"


def test_the_widgets_take_the_config_ranges_and_refuse_beyond_them_with_a_message():
    """The widgets' ranges are the config's own (one source): a link's value the config
    allows is kept as it is; one beyond it gets a message and the default."""
    at = page("train", dataset="ring", epochs=400).run()
    assert not at.exception
    assert at.number_input(key="t_epochs").value == 400 and not at.warning
    at = page("train", dataset="ring", epochs=20000).run()
    assert not at.exception
    assert at.number_input(key="t_epochs").value == 20
    assert any("epochs" in w.value and "10000" in w.value for w in at.warning)


def test_a_killed_worker_ends_the_run_with_a_message_and_its_checkpoint():
    """SIGKILL the worker of a student's run: the page says what happened and still offers
    the last checkpoint, which is also kept with the saved runs."""
    import os
    import signal
    import time
    from lab_app.saved import list_saved
    at = page("train", dataset="ring", epochs=200)
    at.session_state["owner_key"] = "killed-worker-key-0123456789"
    at.run()
    at.button[0].click().run()
    job = at.session_state["runs"][-1].job
    deadline = time.time() + 60
    while job.trainer.step < 20 and time.time() < deadline:
        time.sleep(0.02)
    job.pause()                                   # a pause writes a checkpoint
    while job.trainer.checkpoint_step == 0 and time.time() < deadline:
        time.sleep(0.02)
    kept = job.trainer.checkpoint_step
    assert kept > 0
    os.kill(job.pid, signal.SIGKILL)
    finish_jobs(at)
    at.run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "The run stopped" in errors and "SIGKILL" in errors
    assert f"the checkpoint of step {kept} is kept" in errors
    downloads = [d.proto.label for d in at.get("download_button")]
    assert downloads[:4] == ["Samples PNG", "Progress GIF", "History CSV", "Checkpoint"]
    (item,) = list_saved("killed-worker-key-0123456789")
    assert item["state"] == "failed" and (item["path"] / "checkpoint.pt").is_file()


def test_the_recipe_switches_reach_the_config_and_the_url():
    """EMA, precision and DiffAugment each have a switch; a link fills them, and the link the
    page writes back carries what the switches now say."""
    from gan_core.config import TrainConfig
    from lab_app.settings import config_from_params, params_from_config
    at = page("train", dataset="mnist", ema="0", precision="fp32",
              augment="translation,cutout").run()
    assert not at.exception
    assert at.checkbox(key="t_ema_on").value is False
    assert at.selectbox(key="t_precision").value == "fp32"
    assert at.checkbox(key="t_augment_on").value is True
    at.checkbox(key="t_ema_on").check().run()
    at.selectbox(key="t_precision").set_value("bf16").run()
    at.checkbox(key="t_augment_on").uncheck().run()
    assert not at.exception
    cfg, errors = config_from_params(dict(at.query_params))
    assert not errors
    assert (cfg.ema_decay, cfg.precision, cfg.augment) == (0.999, "bf16", "")
    c = TrainConfig(dataset="mnist", ema_decay=None, precision="fp32", augment="cutout")
    back, errs = config_from_params(params_from_config(c))
    assert not errs and (back.ema_decay, back.precision, back.augment) == (None, "fp32", "cutout")


def test_pause_gives_the_slot_back_and_the_page_says_so():
    """Issue 30: two paused, abandoned runs held both slots. The page says the slot is free."""
    import time
    from lab_app.ui import get_pool
    at = page("train", dataset="ring", epochs=200).run()
    at.button[0].click().run()
    job = at.session_state["runs"][-1].job
    deadline = time.time() + 60
    while job.trainer.step == 0 and time.time() < deadline:
        time.sleep(0.05)
    at.run()
    at.button(key="pause").click().run()
    deadline = time.time() + 20
    while get_pool().running and time.time() < deadline:
        time.sleep(0.05)
    assert get_pool().running == 0
    at.run()
    assert not at.exception
    assert any("paused (slot given back)" in i.value.replace("\\", "") for i in at.info)  # escaped
    at.button(key="resume").click().run()
    job.stop()
    finish_jobs(at)

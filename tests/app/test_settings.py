"""Settings in the URL: round trip, bad values become messages, lessons are valid set-ups."""
from gan_core.config import TrainConfig
from lab_app.lessons import LESSONS
from lab_app.settings import config_from_params, params_from_config


def test_round_trip_keeps_every_changed_setting():
    cfg = TrainConfig(dataset="ring", model="mlp", latent_dim=7, loss="focal", focal_gamma=3.0,
                      g_steps_per_d_step=4, lr_g=0.0005, batch_size=32, epochs=5,
                      label_smoothing=0.1, grad_clip=0.25, seed=11, depth="large")
    back, errors = config_from_params(params_from_config(cfg))
    assert errors == {}
    for name in ("dataset", "model", "latent_dim", "loss", "focal_gamma", "g_steps_per_d_step",
                 "lr_g", "batch_size", "epochs", "label_smoothing", "grad_clip", "seed", "depth"):
        assert getattr(back, name) == getattr(cfg, name), name


def test_bad_values_become_messages_and_keep_the_good_ones():
    cfg, errors = config_from_params({"dataset": "ring", "latent_dim": "0", "lr_g": "abc",
                                      "epochs": "4", "loss": "nope", "gamma": "nan"})
    assert set(errors) == {"latent_dim", "lr_g", "loss", "gamma"}
    assert "latent_dim" in errors["latent_dim"] and "1 to 1000" in errors["latent_dim"]
    assert cfg.epochs == 4 and cfg.dataset == "ring" and cfg.model == "mlp"
    assert 1 <= cfg.latent_dim <= 1000


def test_switching_to_a_toy_set_switches_the_model():
    cfg, errors = config_from_params({"dataset": "grid"})
    assert errors == {} and cfg.model == "mlp"
    cfg, errors = config_from_params({"dataset": "mnist"})
    assert errors == {} and cfg.model == "classroom"


def test_every_lesson_is_a_valid_set_up():
    for lesson in LESSONS.values():
        if lesson.page.endswith("train.py"):
            _, errors = config_from_params(lesson.params)
            assert errors == {}, (lesson.key, errors)


def test_switching_evaluation_off_survives_the_url():
    """eval_every defaults to on for the toys; off must be written as 0 and read back as off."""
    cfg, _ = config_from_params({"dataset": "ring"})
    assert cfg.eval_every == 20
    off = cfg.with_updates(eval_every=None)
    params = params_from_config(off)
    assert params["eval_every"] == "0"
    back, errors = config_from_params(params)
    assert errors == {} and back.eval_every is None


def test_long_histories_are_thinned_for_live_charts_but_keep_the_last_step():
    from lab_app.charts import MAX_POINTS, loss_figure, thin
    hist = [{"step": i + 1, "g_loss": 1.0, "d_loss": 1.0} for i in range(5003)]
    kept = thin(hist)
    assert len(kept) <= MAX_POINTS + 1 and kept[-1]["step"] == 5003 and kept[0]["step"] == 1
    fig = loss_figure({"run": hist})
    assert all(len(t.x) <= MAX_POINTS + 1 for t in fig.data)
    assert thin(hist[:10]) == hist[:10]

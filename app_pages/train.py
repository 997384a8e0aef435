"""Train: pick the settings, start a run, watch it learn live, switch the loss mid-run."""
import streamlit as st

from gan_core.config import RECIPES, TrainConfig, switch_loss
from gan_core.data import DatasetError
from gan_core.datasets import in_words, is_points_dataset, point_sets
from gan_core.images import gif_bytes, png_bytes, snapshot_image
from gan_core.losses import LOSSES
from gan_core.models import ARCHITECTURES
from gan_core.records import history_csv
from gan_core.sources import missing_line
from gan_core.devices import available_devices, is_out_of_memory, memory_advice, resolve_device
from lab_app import livecharts
from lab_app import widgets
from lab_app.settings import (FIELD_TO_URL, absent_help, config_from_params, dataset_label,
                              dataset_options, default_config, find_data_dir, params_from_config,
                              values_from_widgets, widget_state)
from lab_app import inside, narration, phase, reports, safe, saved
from lab_app.narration import Narrator
from lab_app.recipes import recipe_line, recipe_name, recipe_of_values, recipe_widget_state
from lab_app.ui import (FIRST_STEP_WAIT_S, LIVE_REFRESH_S, SLOW_REFRESH_S, Run, add_run,
                        checkpoint_bytes, every_slow, latest_run, new_job, owner_key, timed)
from gan_core.uploads import UploadError, save_uploads_isolated

st.title("Train a GAN")

# --- settings, first from the URL ------------------------------------------------------------
url = st.query_params.to_dict()
# Adopt the URL when opened by a link or a lesson. Streamlit forgets widget values of a page that
# was not shown, so coming back through the menu (no URL settings) restores the last settings.
if st.session_state.get("train_url") != url or "t_dataset" not in st.session_state:
    params = url or st.session_state.get("train_saved", {})
    cfg0, url_errors = config_from_params(params)
    st.session_state.update(widget_state(cfg0))
    st.session_state.train_url_errors = url_errors
    st.session_state.train_url = url
    st.session_state.t_view = "Step by step" if url.get("view") == "step" else "Live training"
for key, msg in st.session_state.get("train_url_errors", {}).items():
    st.warning(f"The link's setting {safe.text(msg)}. The default is used instead.")

data_dir = find_data_dir()
UPLOAD = "your images (upload)"
menu = dataset_options(data_dir) + [UPLOAD]
# A dataset whose files are not here is said on load, at the top, not after Start.
missing = missing_line(str(st.session_state.get("t_dataset", "")), data_dir)
if missing:
    st.warning(safe.text(missing), icon=":material/download:")
errors: dict[str, str] = {}
IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff", "zip"]


def use_upload() -> None:
    """Button callback (runs before the widgets): check and store the files, then select them."""
    files = st.session_state.get("t_upload_files") or []
    if not files:
        st.session_state.upload_msg = ("warning", "Choose some images or a zip first.")
        return
    try:
        upload_id, folder = saved.new_upload(owner_key())
    except ValueError as e:          # the server's disk quota is full (saved.DiskFull)
        st.session_state.upload_msg = ("error", str(e))
        return
    try:        # decoded in a separate process with limits: no upload can stall the server
        report = save_uploads_isolated(((f.name, f) for f in files), folder)   # sizes first
    except UploadError as e:
        st.session_state.upload_msg = ("error", f"Upload refused: {e}")
        return
    st.session_state.upload_msg = ("success", report.summary)
    # Settings still at the 2-D sets' defaults become the image defaults (latent 100, ...).
    toy, images = default_config("ring"), default_config("mnist")
    for name in ("latent_dim", "lr_g", "lr_d", "batch_size", "epochs"):
        if st.session_state.get(f"t_{name}") == getattr(toy, name):
            st.session_state[f"t_{name}"] = getattr(images, name)
    st.session_state.t_dataset = f"{saved.UPLOAD_PREFIX}{upload_id}"    # an id, never a path
    st.session_state.t_conditional = False

def use_recipe() -> None:
    """Recipe callback (runs before the widgets): set the recipe's fields, leave the rest."""
    key = st.session_state.get("t_recipe")
    if key in RECIPES:
        toy_now = is_points_dataset(st.session_state.t_dataset)
        st.session_state.update(recipe_widget_state(key, default_config("ring" if toy_now
                                                                        else "mnist")))


left, right = st.columns([1, 2.3], gap="large")
with left:
    st.subheader("Settings")
    # The recipe in plain sight: which starting point these settings are, before any other.
    toy_now = is_points_dataset(st.session_state.t_dataset)
    try:
        now = values_from_widgets(st.session_state)
    except (KeyError, TypeError, ValueError):      # a widget not drawn yet: no recipe to name
        now = None
    st.session_state.t_recipe = recipe_of_values(now, toy_now) if now is not None else None
    recipe = st.radio(
        "Recipe", list(RECIPES), key="t_recipe", format_func=recipe_name, on_change=use_recipe,
        help="A recipe sets the learning rates, the batch, cluster conditioning and where the "
             "samples come from (G or an average of G); change any of them and the settings "
             "become a mix of both.")
    st.caption(recipe_line(recipe, toy_now, now))
    if st.session_state.t_dataset not in menu:
        menu.append(st.session_state.t_dataset)
    dataset = st.selectbox("Dataset", menu, key="t_dataset",
                           format_func=lambda d: f"your uploaded images ({d[7:13]})"
                           if d.startswith(saved.UPLOAD_PREFIX) else dataset_label(d, data_dir),
                           help=f"{in_words(point_sets())} are 2-D toy sets: no files, "
                                "seconds to train. "
                                "MNIST: with only the official test split on disk, GANs train "
                                "on 8,000 of its digits and 2,000 are kept out to measure "
                                "quality. " + absent_help(data_dir))
    kind, msg = st.session_state.pop("upload_msg", (None, None))
    if kind:
        getattr(st, kind)(safe.text(msg))     # file and folder names from the upload
    if dataset == UPLOAD or dataset.startswith(("folder:", saved.UPLOAD_PREFIX)):
        with st.expander("Upload images", expanded=dataset == UPLOAD):
            st.file_uploader("Images, or a zip of them (subfolders become classes)",
                             type=IMAGE_TYPES, accept_multiple_files=True, key="t_upload_files")
            st.button("Use these images", on_click=use_upload, key="t_upload_go")
            st.caption("At most 5,000 files and 300 MB unpacked; images are checked and "
                       "stored shrunk to 256 px. Only you can train on them.")
    # upload:<id> becomes the folder of this browser's upload; nobody else's, and no path
    data_name, bad_dataset = saved.resolve_dataset(dataset, owner_key())
    if bad_dataset:
        errors["dataset"] = bad_dataset
    toy = is_points_dataset(dataset)
    models = ["mlp"] if toy else [n for n, a in ARCHITECTURES.items() if a.image_size]
    if st.session_state.get("t_model") not in models:
        st.session_state.t_model = models[0]
    model = st.selectbox("Model", models, key="t_model",
                         help=". ".join(f"{n}: {ARCHITECTURES[n].about}" for n in models) + ".")
    loss = widgets.draw("loss")
    widgets.draw_loss_params(loss)
    widgets.draw("latent_dim")
    c1, c2 = st.columns(2)
    widgets.draw("g_steps_per_d_step", c1)
    widgets.draw("d_steps_per_g_step", c2)
    c1, c2 = st.columns(2)
    widgets.draw("lr_g", c1)
    widgets.draw("lr_d", c2)
    c1, c2 = st.columns(2)
    widgets.draw("batch_size", c1)
    widgets.draw("epochs", c2)
    widgets.draw("subset")
    with st.expander("More: regularisation, seed, device"):
        devices = available_devices()
        if st.session_state.t_device not in ["auto"] + devices:
            st.session_state.t_device = "auto"
        device = st.selectbox("Device", ["auto"] + devices, key="t_device")
        widgets.draw_more()

    values = dict(values_from_widgets(st.session_state), dataset=data_name, model=model,
                  device=device, data_dir=str(data_dir) if data_dir else None, download=False,
                  sample_every=10 if toy else 20)
    cfg = None
    if dataset == UPLOAD:
        errors["dataset"] = "Upload some images first (above), then press Use these images."
    try:
        if not errors:
            cfg = TrainConfig(**values).validate()
    except ValueError as e:
        field = str(e).split(" ")[0]
        errors[FIELD_TO_URL.get(field, field)] = str(e)
    for msg in errors.values():          # they quote the link's or the upload's values
        st.error(safe.text(msg), icon=":material/warning:")
    if cfg is not None:
        # The link names an upload by its id (the config holds its folder): never a path.
        st.session_state.train_saved = {**params_from_config(cfg), "dataset": dataset}
        st.query_params.from_dict(st.session_state.train_saved)
        st.session_state.train_url = st.query_params.to_dict()
    start = st.button("Start training", type="primary", disabled=cfg is None,
                      width="stretch")

def grid_png(job_id: int, snap) -> bytes:
    """The snapshot's sample grid as PNG, encoded once: the live view shows the same grid on
    several refreshes in a row."""
    cache = st.session_state.setdefault("grid_png", {})
    key = (job_id, snap.step, len(snap.samples))
    if cache.get("key") != key:
        cache.update(key=key, png=png_bytes(snapshot_image(snap.samples)))
    return cache["png"]


def live_charts(job_id: int, hist: list, markers: list, bands: list, tr) -> dict:
    """The live view's five charts as (Vega-Lite spec, data) (lab_app.livecharts says why not
    Plotly): the history's columns are kept between refreshes and extended."""
    cols = st.session_state.setdefault("live_columns", {})
    if cols.get("job") != job_id:
        cols.clear()
        cols.update(job=job_id, columns=livecharts.Columns())
    c = cols["columns"].update(hist)
    return {"loss": livecharts.loss_chart(c, markers, bands),
            "prob": livecharts.probability_chart(c, markers, bands),
            "ratio": livecharts.ratio_chart(c, markers, bands),
            "grad": livecharts.grad_chart(c, markers, bands),
            "quality": livecharts.quality_chart(c, max(tr.spec.num_classes, 10),
                                                tr.dataset.num_classes or 8, markers, bands)}


def draw_chart(where, chart, key: str) -> None:
    spec, data = chart
    where.vega_lite_chart(data, spec, width="stretch", key=key)


def show_saved_runs() -> None:
    """This browser's finished runs, kept on the server across refreshes and restarts."""
    mine = saved.list_saved(owner_key())
    if not mine:
        return
    with st.expander(f"Your saved runs ({len(mine)}), kept on the server", expanded=False):
        for i, m in enumerate(mine[:10]):
            c1, c2, c3 = st.columns([1, 3, 1])
            if (m["path"] / "samples.png").is_file():
                c1.image(str(m["path"] / "samples.png"), width=90)
            t = {k: safe.text(v) for k, v in m.items() if k != "path"}
            c2.markdown(f"**{t['name']}** · {t['dataset']} · {t['loss']} · latent "
                        f"{t['latent_dim']} · {t['step']} steps  \n{t['state']}: {t['reason']} "
                        f"· saved {t['saved']}")
            ckpt = m["path"] / "checkpoint.pt"
            if ckpt.is_file():
                # read on click, not on every rerun of the page
                c3.download_button("Checkpoint", ckpt.read_bytes, f"{m['path'].name}.pt",
                                   "application/octet-stream", key=f"saved_dl_{i}")


run = latest_run("train")
if start and cfg is not None:
    if run is not None and run.active:
        run.job.stop()                       # one run at a time per student on this page
    try:
        name = f"run {len([r for r in st.session_state.runs]) + 1}"
        with st.spinner("Checking the data..."):
            job = new_job(cfg, name)          # trains in a worker process, not here
        token = owner_key()
        job.on_end(lambda tr, side: saved.persist(tr, token, name))
        run = add_run(Run(name, job.start()), st.session_state.get("train_url"))
        job.wait_first_step(FIRST_STEP_WAIT_S)
    except (ValueError, DatasetError) as e:
        with left:
            st.error(safe.text(e), icon=":material/warning:")
    except Exception as e:  # noqa: BLE001 - out of memory while loading or building the models
        if not is_out_of_memory(e):
            raise
        with left:
            st.error(f"{safe.text(memory_advice(cfg, resolve_device(cfg.device)))}.",
                     icon=":material/memory:")

# --- the live view ---------------------------------------------------------------------------
with right:
    view_mode = st.segmented_control("Show", ["Live training", "Step by step"], key="t_view",
                                     help="Step by step: one D or one G update per click")
    if view_mode == "Step by step":
        inside.step_by_step(cfg)
        st.stop()
    if run is None:
        st.info("Choose the settings on the left and press **Start training**. The charts and "
                "samples appear here and update while it trains. Tip: the 2-D set *ring* trains "
                "in seconds; MNIST shows digits within a minute.")
        show_saved_runs()
        st.stop()

    live = run.job.alive
    def live_view():
        job = run.job
        tr = job.trainer
        job.seen()                           # unwatched runs pause and give their slot back
        status = job.status()
        running = live and status.state == "running"     # charts and views: every_slow
        if live and not job.alive:
            st.rerun(scope="app")            # redraw once more, without the timer
        total = max(status.total_steps, 1)
        if status.state == "queued":
            st.warning(f"{safe.text(status.message)}. Your run starts as soon as a slot is free.", icon=":material/hourglass_top:")
        label = f"{status.state}: step {status.step}/{total}"
        if status.images_per_s:
            label += f" · {status.images_per_s:,.0f} images/s"
        if status.seconds_left is not None and status.state in ("running", "paused"):
            label += f" · about {status.seconds_left:,.0f} s left"
        if status.next_eval:
            label += f" · next quality check at step {status.next_eval}"
        st.progress(min(status.step / total, 1.0), text=label)
        if status.state == "failed":
            st.error(f"The run stopped: {safe.text(status.message)}")
        elif status.state in ("finished", "stopped"):
            st.success(f"{status.state.capitalize()}: {safe.text(tr.reason)}.")
        elif status.state == "paused" and status.message != "paused":
            st.info(f"{safe.text(status.message)}.", icon=":material/pause:")
        st.caption(safe.text(tr.dataset.note))           # an upload's folder and class names

        b1, b2, b3, _ = st.columns([1, 1, 1, 3])
        if status.state == "running" and b1.button("Pause", key="pause"):
            job.pause()
        if status.state == "paused" and b1.button("Resume", key="resume"):
            job.resume()
        if status.state in ("running", "paused", "queued") and b2.button("Stop", key="stop"):
            job.stop()
        if status.state in ("running", "paused") and tr.dataset.is_points:
            inside.slow_motion(job, "t")

        if status.state in ("running", "paused"):
            with st.expander("Change while it trains (marked on the charts)", expanded=False):
                c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
                new_loss = c1.selectbox("Loss", list(LOSSES), index=list(LOSSES).index(tr.config.loss),
                                        format_func=lambda k: LOSSES[k].title, key="live_loss")
                new_g = c2.number_input("G:D", 1, 100, value=tr.config.g_steps_per_d_step,
                                        key="live_g")
                new_d = c3.number_input("D:G", 1, 100, value=tr.config.d_steps_per_g_step,
                                        key="live_d")
                if c4.button("Apply", key="live_apply"):
                    try:
                        tr.update_settings(**switch_loss(new_loss, g_steps_per_d_step=int(new_g),
                                                         d_steps_per_g_step=int(new_d)))
                        st.toast(f"Applied at step {tr.step}")
                    except ValueError as e:
                        st.error(safe.text(e), icon=":material/warning:")

        hist = list(tr.history)
        snaps = list(tr.snapshots)
        markers = list(tr.markers)
        # What is happening, in words (gan_core.detectors), and shaded on the charts
        narrators = st.session_state.setdefault("narrators", {})
        if job.id not in narrators:
            narrators.clear()                # one run at a time on this page
            if tr.dataset.is_points:
                narrators[job.id] = Narrator(tr.config.dataset, True, tr.dataset.data)
            else:
                narrators[job.id] = Narrator(tr.config.dataset, False,
                                             judge=inside.judge_for(tr.config.dataset),
                                             real_diversity=inside.real_diversity(tr.config))
        episodes = narrators[job.id].episodes(hist, snaps)
        holding, ended = narration.split(episodes)
        for e in holding:
            st.info(e.text, icon=":material/campaign:")
        if ended:
            st.caption("Earlier in this run: " + "; ".join(e.text for e in ended) + ".")
        bands = narration.bands(episodes, hist[-1]["step"]) if hist else []
        row1 = st.columns(2)
        follow = True
        with row1[0]:
            if snaps:
                follow = st.toggle("Follow the latest samples", value=True, key="follow")
                idx = len(snaps) - 1
                if not follow and len(snaps) > 1:
                    idx = st.slider("Scrub back through the samples", 0, len(snaps) - 1,
                                    len(snaps) - 1, key="scrub")
                snap = snaps[idx]
                if tr.dataset.is_points:
                    mesh, arrows = inside.switches("t_toy")
                    inside.points_view(tr, snap, "toyfig", mesh, arrows)
                else:
                    st.image(grid_png(job.id, snap),
                             caption=f"Fixed noise at step {snap.step} ({snap.epoch} of "
                                     f"{tr.config.epochs} epochs done)",
                             width="stretch", output_format="PNG")     # as it is: no re-encoding
        if not hist:
            row1[1].caption("Charts appear after the first step.")
        else:
            figs = every_slow("charts", job.id, running,
                              lambda: live_charts(job.id, hist, markers, bands, tr))
            draw_chart(row1[1], figs["loss"], "c_loss")
            row2 = st.columns(2)
            draw_chart(row2[0], figs["prob"], "c_prob")
            draw_chart(row2[1], figs["ratio"], "c_ratio")
            st.caption(phase.TRAIN_LINK)
            row3 = st.columns(2)
            draw_chart(row3[0], figs["grad"], "c_grad")
            if figs["quality"] is not None:
                draw_chart(row3[1], figs["quality"], "c_quality")
            elif tr.eval_note:
                row3[1].caption(f"No quality metrics: {safe.text(tr.eval_note)}")
            st.caption("Faint lines: every step. Bold: smoothed. Dotted vertical lines mark "
                       "settings changed mid-run; shaded spans mark what the lab noticed (the "
                       "lines above the charts)."
                       + (f" While it trains, the charts redraw every {SLOW_REFRESH_S:g} s."
                          if running else ""))

        if snaps and tr.dataset.is_points and not live:
            with st.expander("Replay the whole run", expanded=True):
                inside.replay(tr, "t_replay", mesh, arrows)
        elif snaps and not tr.dataset.is_points:
            with st.expander("Inside the game: what D sees in each sample", expanded=True):
                shown = every_slow("inside", job.id, running and follow, lambda: snap)
                inside.image_views(tr, shown, "t_inside", lazy=live)

        if status.state not in ("running", "queued") and hist:
            st.markdown("**Downloads**")
            d1, d2, d3, d4, d5 = st.columns(5)
            # Each file is made when its button is pressed: a finished run's page is drawn for
            # every student in the class, and few take the GIF (60 frames drawn and encoded) or
            # the checkpoint (read whole into memory).
            real = tr.dataset.data[:1000] if tr.dataset.is_points else None
            files = st.session_state["downloads"] = dict(
                png=lambda: png_bytes(snapshot_image(snaps[-1].samples, real)),
                gif=lambda: gif_bytes([snapshot_image(s.samples, real) for s in snaps[-60:]]),
                csv=lambda: history_csv(hist).encode(),
                ckpt=lambda: checkpoint_bytes(tr))
            if snaps:
                d1.download_button("Samples PNG", files["png"], "samples.png", "image/png")
                d2.download_button("Progress GIF", files["gif"], "progress.gif", "image/gif")
            d3.download_button("History CSV", files["csv"], "history.csv", "text/csv")
            if tr.checkpoint_path is not None and tr.checkpoint_path.is_file():
                d4.download_button("Checkpoint", files["ckpt"], "checkpoint.pt",
                                   "application/octet-stream")
            d5.download_button("Report (HTML)", lambda: reports.run_report(
                tr, hist, snaps, narrators[job.id].looks(snaps), st.session_state.train_url),
                "report.html", "text/html", help="One file to hand in: settings, curves, "
                "samples over time and what happened, readable offline")
            if not live:
                show_saved_runs()

    st.fragment(timed(live_view), run_every=LIVE_REFRESH_S if live else None)()

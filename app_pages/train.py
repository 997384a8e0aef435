"""Train: pick the settings, start a run, watch it learn live, switch the loss mid-run."""
import math

import streamlit as st

from gan_core.config import DEPTHS, PRECISIONS, TrainConfig, available_devices, resolve_device
from gan_core.data import DatasetError
from gan_core.images import gif_bytes, png_bytes, snapshot_image
from gan_core.jobs import Job
from gan_core.losses import LOSSES
from gan_core.checkpoint import history_csv
from gan_core.trainer import is_out_of_memory, memory_advice
from lab_app import charts
from lab_app.settings import (FIELD_TO_URL, TOYS, config_from_params, default_config,
                              find_data_dir, mnist_available, params_from_config)
from lab_app import inside, saved
from lab_app.ui import Run, add_run, checkpoint_bytes, get_pool, latest_run, owner_key
from gan_core.uploads import UploadError, save_uploads_isolated

st.title("Train a GAN")

# --- settings, first from the URL ------------------------------------------------------------
url = st.query_params.to_dict()
# Adopt the URL when opened by a link or a lesson. Streamlit forgets widget values of a page that
# was not shown, so coming back through the menu (no URL settings) restores the last settings.
if st.session_state.get("train_url") != url or "t_dataset" not in st.session_state:
    params = url or st.session_state.get("train_saved", {})
    cfg0, url_errors = config_from_params(params)
    for name, value in cfg0.to_dict().items():
        st.session_state[f"t_{name}"] = value
    # The widgets have narrower ranges than the config allows; clamp, and say so.
    for name, top in (("epochs", 200), ("batch_size", 1024)):
        if st.session_state[f"t_{name}"] > top:
            st.session_state[f"t_{name}"] = top
            url_errors[name] = f"{name} {getattr(cfg0, name)} is above this page's limit of {top}"
    st.session_state.t_subset_n = min(cfg0.subset or 0, 100_000)
    st.session_state.t_clip_on = cfg0.grad_clip is not None
    st.session_state.t_clip_v = cfg0.grad_clip or 0.25
    st.session_state.t_eval_n = cfg0.eval_every or 0
    st.session_state.t_ema_on = cfg0.ema_decay is not None
    st.session_state.t_ema_v = cfg0.ema_decay or 0.999
    st.session_state.t_augment_on = bool(cfg0.augment)
    st.session_state.train_url_errors = url_errors
    st.session_state.train_url = url
    st.session_state.t_view = "Step by step" if url.get("view") == "step" else "Live training"
for key, msg in st.session_state.get("train_url_errors", {}).items():
    st.warning(f"The link's setting {msg}. The default is used instead.")

data_dir = find_data_dir()
image_sets = (["mnist"] if mnist_available(data_dir) else []) + ["fashion-mnist", "fer2013"]
UPLOAD = "your images (upload)"
dataset_options = ["ring", "grid"] + image_sets + [UPLOAD]
errors: dict[str, str] = {}
IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff", "zip"]


def use_upload() -> None:
    """Button callback (runs before the widgets): check and store the files, then select them."""
    files = st.session_state.get("t_upload_files") or []
    if not files:
        st.session_state.upload_msg = ("warning", "Choose some images or a zip first.")
        return
    upload_id, folder = saved.new_upload(owner_key())
    try:        # decoded in a separate process with limits: no upload can stall the server
        report = save_uploads_isolated(((f.name, f.getvalue()) for f in files), folder)
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

left, right = st.columns([1, 2.3], gap="large")
with left:
    st.subheader("Settings")
    if st.session_state.t_dataset not in dataset_options:
        dataset_options.append(st.session_state.t_dataset)
    dataset = st.selectbox("Dataset", dataset_options, key="t_dataset",
                           format_func=lambda d: f"your uploaded images ({d[7:13]})"
                           if d.startswith(saved.UPLOAD_PREFIX) else d,
                           help="ring and grid are 2-D toy sets: no files, seconds to train. "
                                "MNIST here is the official 10,000-digit test split.")
    kind, msg = st.session_state.pop("upload_msg", (None, None))
    if kind:
        getattr(st, kind)(msg)
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
    toy = dataset in TOYS
    models = ["mlp"] if toy else ["classroom", "paper", "dcgan64"]
    if st.session_state.get("t_model") not in models:
        st.session_state.t_model = models[0]
    model = st.selectbox("Model", models, key="t_model",
                         help="classroom: 28x28, fast on a CPU. paper: the FLGAN authors' 32x32 "
                              "DCGAN. dcgan64: Radford's 64x64 DCGAN (slow on CPU).")
    loss = st.selectbox("Loss", list(LOSSES), key="t_loss",
                        format_func=lambda k: LOSSES[k].title)
    gamma = st.slider("Focal gamma", 0.0, 5.0, key="t_focal_gamma", step=0.5,
                      disabled=loss != "focal", help="0 gives the non-saturating loss")
    latent = st.number_input("Latent size", 1, 1000, key="t_latent_dim",
                             help="1 forces mode collapse; DCGAN uses 100")
    c1, c2 = st.columns(2)
    g_steps = c1.number_input("G steps per D step", 1, 100, key="t_g_steps_per_d_step")
    d_steps = c2.number_input("D steps per G step", 1, 100, key="t_d_steps_per_g_step")
    c1, c2 = st.columns(2)
    lr_g = c1.number_input("G learning rate", 1e-6, 1.0, key="t_lr_g", format="%.5f",
                           step=1e-4)
    lr_d = c2.number_input("D learning rate", 1e-6, 1.0, key="t_lr_d", format="%.5f",
                           step=1e-4)
    c1, c2 = st.columns(2)
    batch = c1.number_input("Batch size", 1, 1024, key="t_batch_size")
    epochs = c2.number_input("Epochs", 1, 200, key="t_epochs")
    subset = st.number_input("Use only this many samples (0: all)", 0, 100_000, key="t_subset_n",
                             step=500)
    with st.expander("More: regularisation, seed, device"):
        smooth = st.slider("Label smoothing (real target 1 - s)", 0.0, 0.5, key="t_label_smoothing",
                           step=0.05)
        flip = st.slider("One-sided label flipping (share of real labelled fake)", 0.0, 0.5,
                         key="t_label_flip", step=0.05)
        clip_on = st.checkbox("Clip gradient norms", key="t_clip_on",
                              help="The FLGAN authors' code clips at 0.25")
        clip = st.number_input("Max gradient norm", 0.01, 100.0, key="t_clip_v",
                               disabled=not clip_on)
        depth = st.selectbox("Generator size", DEPTHS, key="t_depth")
        bn = st.checkbox("Batch norm", key="t_batch_norm")
        seed = st.number_input("Seed", 0, 2**31 - 1, key="t_seed")
        devices = available_devices()
        if st.session_state.t_device not in ["auto"] + devices:
            st.session_state.t_device = "auto"
        device = st.selectbox("Device", ["auto"] + devices, key="t_device")
        ema_on = st.checkbox("Show samples from an average of G's weights (EMA)", key="t_ema_on",
                             help="G's weights wobble from step to step; their running average "
                                  "draws cleaner digits. It only changes what you see, never "
                                  "the training.")
        ema = st.number_input("EMA decay", 0.9, 0.9999, key="t_ema_v", format="%.4f",
                              step=0.0005, disabled=not ema_on,
                              help="Closer to 1 averages over more steps (warmed up at the start)")
        augment_on = st.checkbox("Augment D's inputs (DiffAugment)", key="t_augment_on",
                                 help="D sees every image, real and generated, shifted a little "
                                      "and with a square cut out, so it cannot memorise a small "
                                      "set of images; G learns through the same changes.")
        precision = st.selectbox("Precision", PRECISIONS, key="t_precision",
                                 help="bf16 does the matrix work in 16-bit floats, about twice as "
                                      "fast on CPUs with AMX/AVX512-BF16 and on recent GPUs; auto "
                                      "uses it only where the hardware runs it natively.")
        eval_every = st.number_input("Measure quality every N steps (0: never)", 0, 100_000,
                                     key="t_eval_n", help="MNIST: the judge classifier's "
                                     "verdict on 500 samples; 2-D sets: modes covered")

    values = dict(dataset=data_name, model=model, loss=loss, focal_gamma=float(gamma),
                  latent_dim=int(latent), g_steps_per_d_step=int(g_steps),
                  d_steps_per_g_step=int(d_steps), lr_g=float(lr_g), lr_d=float(lr_d),
                  batch_size=int(batch), epochs=int(epochs), subset=int(subset) or None,
                  label_smoothing=float(smooth), label_flip=float(flip),
                  grad_clip=float(clip) if clip_on else None, depth=depth, batch_norm=bn,
                  seed=int(seed), device=device, eval_every=int(eval_every) or None,
                  ema_decay=float(ema) if ema_on else None, precision=precision,
                  augment="translation,cutout" if augment_on else "",
                  data_dir=str(data_dir) if data_dir else None, download=False,
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
    for msg in errors.values():
        st.error(msg, icon=":material/warning:")
    if cfg is not None:
        # The link names an upload by its id (the config holds its folder): never a path.
        st.session_state.train_saved = {**params_from_config(cfg), "dataset": dataset}
        st.query_params.from_dict(st.session_state.train_saved)
        st.session_state.train_url = st.query_params.to_dict()
    start = st.button("Start training", type="primary", disabled=cfg is None,
                      width="stretch")

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
            c2.markdown(f"**{m['name']}** · {m['dataset']} · {m['loss']} · latent "
                        f"{m['latent_dim']} · {m['step']} steps  \n{m['state']}: {m['reason']} "
                        f"· saved {m['saved']}")
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
            job = Job(cfg, get_pool(), name)          # trains in a worker process, not here
        token = owner_key()
        job.on_end(lambda tr, side: saved.persist(tr, token, name))
        run = add_run(Run(name, job.start()))
    except (ValueError, DatasetError) as e:
        with left:
            st.error(str(e), icon=":material/warning:")
    except Exception as e:  # noqa: BLE001 - out of memory while loading or building the models
        if not is_out_of_memory(e):
            raise
        with left:
            st.error(f"{memory_advice(cfg, resolve_device(cfg.device))}.", icon=":material/memory:")

# --- the live view ---------------------------------------------------------------------------
with right:
    view_mode = st.segmented_control("Show", ["Live training", "Step by step"], key="t_view",
                                     help="Step by step: one D or one G update per click (2-D sets)")
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
        status = job.status()
        if live and not job.alive:
            st.rerun(scope="app")            # redraw once more, without the timer
        total = max(status.total_steps, 1)
        if status.state == "queued":
            st.warning(f"{status.message}. Your run starts as soon as a slot is free.", icon=":material/hourglass_top:")
        label = f"{status.state}: step {status.step}/{total}"
        if status.images_per_s:
            label += f" · {status.images_per_s:,.0f} images/s"
        if status.seconds_left is not None and status.state in ("running", "paused"):
            label += f" · about {status.seconds_left:,.0f} s left"
        st.progress(min(status.step / total, 1.0), text=label)
        if status.state == "failed":
            st.error(f"The run stopped: {status.message}")
        elif status.state in ("finished", "stopped"):
            st.success(f"{status.state.capitalize()}: {tr.reason}.")
        st.caption(tr.dataset.note)

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
                        changes = dict(loss=new_loss, g_steps_per_d_step=int(new_g),
                                       d_steps_per_g_step=int(new_d))
                        if not LOSSES[new_loss].uses_targets:
                            changes.update(label_smoothing=0.0, label_flip=0.0)
                        tr.update_settings(**changes)
                        st.toast(f"Applied at step {tr.step}")
                    except ValueError as e:
                        st.error(str(e), icon=":material/warning:")

        hist = list(tr.history)
        snaps = list(tr.snapshots)
        markers = list(tr.markers)
        runs = {run.name: hist}
        row1 = st.columns(2)
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
                    st.image(snapshot_image(snap.samples),
                             caption=f"Fixed noise at step {snap.step} (epoch {snap.epoch})",
                             width="stretch")
        if not hist:
            row1[1].caption("Charts appear after the first step.")
        else:
            row1[1].plotly_chart(charts.loss_figure(runs, markers), width="stretch",
                                 key="c_loss")
            row2 = st.columns(2)
            row2[0].plotly_chart(charts.probability_figure(runs, markers), width="stretch",
                                 key="c_prob")
            row2[1].plotly_chart(charts.ratio_figure(runs, markers), width="stretch",
                                 key="c_ratio")
            row3 = st.columns(2)
            row3[0].plotly_chart(charts.grad_figure(runs, markers), width="stretch",
                                 key="c_grad")
            quality = charts.quality_figure(runs, max(tr.spec.num_classes, 10),
                                            tr.dataset.num_classes or 8, markers)
            if quality is not None:
                row3[1].plotly_chart(quality, width="stretch", key="c_quality")
            elif tr.eval_note:
                row3[1].caption(f"No quality metrics: {tr.eval_note}")
            st.caption("Faint lines: every step. Bold: smoothed. Click a legend entry to hide a "
                       "curve. Dotted vertical lines mark settings changed mid-run.")

        if snaps and tr.dataset.is_points and not live:
            with st.expander("Replay the whole run", expanded=True):
                inside.replay(tr, "t_replay", mesh, arrows)
        elif snaps and not tr.dataset.is_points:
            with st.expander("Inside the game: what D sees in each sample", expanded=True):
                inside.image_views(tr, snap, "t_inside")

        if status.state not in ("running", "queued") and hist:
            st.markdown("**Downloads**")
            d1, d2, d3, d4 = st.columns(4)
            cache = st.session_state.setdefault("downloads", {})
            key = (job.id, tr.step, tr.checkpoint_step)   # the worker's last file may follow
            if cache.get("key") != key:
                real = tr.dataset.data[:1000] if tr.dataset.is_points else None
                frames = [snapshot_image(s.samples, real) for s in snaps[-60:]]
                cache.clear()
                cache.update(key=key, png=png_bytes(frames[-1]), gif=gif_bytes(frames),
                             csv=history_csv(hist).encode(), ckpt=checkpoint_bytes(tr))
            d1.download_button("Samples PNG", cache["png"], "samples.png", "image/png")
            d2.download_button("Progress GIF", cache["gif"], "progress.gif", "image/gif")
            d3.download_button("History CSV", cache["csv"], "history.csv", "text/csv")
            if cache["ckpt"]:
                d4.download_button("Checkpoint", cache["ckpt"], "checkpoint.pt",
                                   "application/octet-stream")
            if not live:
                show_saved_runs()

    st.fragment(live_view, run_every=1.5 if live else None)()

"""Streamlit panels for the "inside the game" views, used by the Train and Compare pages.

The pages stay thin: they call these with a run's view (a gan_core.jobs.RunView) and one of its
snapshots. The figures come from lab_app.views, the numbers from gan_core.probes/stepper.
"""
from __future__ import annotations

from typing import Optional

import streamlit as st

from gan_core import detectors
from gan_core.config import TrainConfig
from gan_core.data import DatasetError
from gan_core.datasets import is_points_dataset
from gan_core.images import png_bytes, snapshot_image
from gan_core.metrics import load_judge
from gan_core.probes import judge_classes, mode_counts, nearest_real, rank_by_d
from gan_core.shape import load_for
from gan_core.stepper import Stepper
from gan_core.trainer import Diverged

from . import image_steps, safe, views

EXPLAIN = {
    "map": "**Background:** D's belief at every point of the plane: blue where D says *real*, "
           "red where it says *fake*.",
    "mesh": "**Purple mesh:** a regular grid of noise vectors z sent through G, so you see how G "
            "folds and stretches the plane onto the modes{latent}.",
    "arrows": "**Arrows:** the direction G's loss pushes each generated point (minus the "
              "gradient of G's loss with respect to the point); every {k}th point, longest = "
              "strongest push.",
    "replay": "**Replay:** press ▶ to watch D's map, the points, the mesh and the arrows change "
              "together over the saved snapshots; drag the slider to scrub to any step.",
    "slow": "**Slow motion:** the worker pauses after every step and keeps a snapshot of each, so "
            "you can follow single updates live.",
    "verdict": "**D's verdict:** each sample is framed by what D thinks of it: green = looks real "
               "to D, red = looks fake{score}.",
    "ranked": "**Most and least real:** the 8 samples D rates highest and lowest, with D's "
              "number under each.",
    "modes": "**Mode map:** a separate judge classifier names the class of every sample; a grey "
             "'missing' bar is a class G does not draw (mode collapse).",
    "nearest": "**Nearest real image:** under each sample, the closest training image and their "
               "distance (0 = an exact copy; two different MNIST digits are about 0.3 apart).",
    "push": "**Where G is pushed:** the gradient of G's loss over the pixels of one sample: red "
            "where G's next update adds ink, blue where it removes it: the strokes D objects to.",
    "step": "**Step by step:** each click runs one update of D or of G, on its own small copy of "
            "this set-up, and shows the picture before and after with the loss of that update.",
}


def _mesh_note(latent_dim: int) -> str:
    if latent_dim == 1:
        return " (latent size 1: a single curve)"
    if latent_dim > 2:
        return (f" (latent size {latent_dim}: the slice through z = 0 along its first two axes, "
                f"so the points need not lie on it)")
    return ""


def switches(key: str) -> tuple[bool, bool]:
    """The two switches of the 2-D view: mesh and arrows (on by default)."""
    c1, c2 = st.columns(2)
    mesh = c1.toggle("G's manifold (mesh)", value=True, key=f"{key}_mesh")
    arrows = c2.toggle("Gradient arrows", value=True, key=f"{key}_arrows")
    return mesh, arrows


def points_view(tr, snap, key: str, show_mesh: bool = True, show_arrows: bool = True,
                explain: bool = True) -> None:
    """One 2-D snapshot: D's map, points, mesh and arrows, with one sentence per layer."""
    fig = views.points_figure(tr.dataset.data[:1000], snap, tr.points_extent, show_mesh,
                              show_arrows)
    st.plotly_chart(fig, width="stretch", key=key)
    if explain:
        lines = [EXPLAIN["map"]]
        if show_mesh:
            lines.append(EXPLAIN["mesh"].format(latent=_mesh_note(tr.config.latent_dim)))
        if show_arrows:
            n = len(snap.samples)
            lines.append(EXPLAIN["arrows"].format(k=max(1, -(-n // 64))))
        st.caption("  \n".join(lines))


SPEEDS = {"0.25x": 1600, "0.5x": 800, "1x": 400, "2x": 200, "4x": 100}    # ms per frame


def replay(tr, key: str, show_mesh: bool = True, show_arrows: bool = True) -> None:
    """The saved snapshots as an animation with a play button, a speed and a scrubber."""
    snaps = list(tr.snapshots)
    if len(snaps) < 2:
        return
    speed = st.select_slider("Replay speed", list(SPEEDS), value="1x", key=f"{key}_speed")
    cache = st.session_state.setdefault("replay_cache", {})
    sig = (key, id(tr), len(snaps), snaps[-1].step, show_mesh, show_arrows, speed)
    if cache.get(key, (None,))[0] != sig:
        cache[key] = (sig, views.replay_figure(tr.dataset.data[:1000], snaps, tr.points_extent,
                                               show_mesh, show_arrows, SPEEDS[speed]))
    st.plotly_chart(cache[key][1], width="stretch", key=f"{key}_fig")
    st.caption(EXPLAIN["replay"] + f" ({len(cache[key][1].frames)} of {len(snaps)} snapshots.)")


SLOW = {"full speed": 0.0, "slow: about 4 steps/s": 0.25, "slower: about 1 step/s": 1.0}


def slow_motion(job, key: str) -> None:
    """A speed control for a live run: the worker waits after each step (Job.set_delay)."""
    current = next((k for k, v in SLOW.items() if v == getattr(job, "delay", 0.0)), "full speed")
    choice = st.radio("Training speed", list(SLOW), index=list(SLOW).index(current),
                      horizontal=True, key=f"{key}_slow", help=EXPLAIN["slow"])
    if SLOW[choice] != getattr(job, "delay", 0.0):
        job.set_delay(SLOW[choice])


# --- image runs ------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=4)
def _judge(dataset: str):
    """A dataset's judge classifier (read-only, shared), or the reason there is none."""
    try:
        return load_judge(dataset), ""
    except ValueError as e:
        return None, str(e)


def judge_for(dataset: str):
    """The dataset's judge classifier (shared, read-only), or None when it has none."""
    return _judge(dataset)[0]


DATA_FIELDS = ("dataset", "data_dir", "subset", "channels", "model", "seed", "download")


def training_images(config):
    """A run's training images (shared, read-only, loaded once per data set-up), or None."""
    return _training_images(tuple((k, getattr(config, k)) for k in DATA_FIELDS))[0]


@st.cache_resource(show_spinner=False, max_entries=2)
def _training_images(config_items: tuple):
    """The training images of a config (read-only, shared), or the reason they cannot load."""
    try:
        return load_for(TrainConfig(**dict(config_items))).data, ""
    except (DatasetError, ValueError, OSError) as e:
        return None, str(e)


def real_diversity(config) -> Optional[float]:
    """The judge's measure of variety on 256 of a run's training images (the narration's
    yardstick for collapse), measured once per data set-up rather than on each Start: it took
    about 0.3 s of the click's rerun."""
    return _real_diversity(tuple((k, getattr(config, k)) for k in DATA_FIELDS))


@st.cache_resource(show_spinner=False, max_entries=4)
def _real_diversity(config_items: tuple) -> Optional[float]:
    images = _training_images(config_items)[0]
    judge = judge_for(dict(config_items)["dataset"])
    if images is None or judge is None or not len(images):
        return None
    return detectors.diversity_of(images[:256], judge)


def _numbers(values, kind: str) -> str:
    fmt = "{:.2f}" if kind == "probability" else "{:+.2f}"
    return " · ".join(fmt.format(v) for v in values)


IMAGE_TABS = ("D's verdict", "Mode map", "Nearest real image", "Where G is pushed")


def image_views(tr, snap, key: str, lazy: bool = False) -> None:
    """D's verdict, mode map, nearest real image and where G is pushed, for one snapshot.

    lazy: draw only the open tab (the others when they are clicked). A live fragment reruns
    every 2.5 s (ui.LIVE_REFRESH_S), and the hidden tabs (the judge, a search of the training
    set, three figures) were most of its time; a finished run's page draws all four at once."""
    probe = getattr(snap, "probe", None)
    if probe is None:
        st.caption("These views appear with the next sample grid.")
        return
    tabs = st.tabs(IMAGE_TABS, key=f"{key}_tab", on_change="rerun")
    for tab, draw in zip(tabs, (_verdict_tab, _modes_tab, _nearest_tab, _push_tab)):
        if tab.open or not lazy:
            with tab:
                draw(tr, snap, key)


def _verdict_images(snap, key: str) -> list[tuple[bytes, str]]:
    """The verdict grid and the two ranked strips as PNG with their captions, made once per
    snapshot: a live view shows the same snapshot on several refreshes in a row."""
    cache = st.session_state.setdefault(f"{key}_verdict_png", {})
    if cache.get("snap") is snap:
        return cache["images"]
    samples, probe = snap.samples, snap.probe
    d_out = probe.d_out
    img, _ = views.verdict_grid(samples, d_out, probe.d_kind)
    images = [(png_bytes(img), f"Step {snap.step}: D's verdict on the fixed-noise samples")]
    most, least = rank_by_d(d_out, 8)
    for title, idx in (("D finds most real", most), ("D finds least real", least)):
        strip, _ = views.verdict_grid(samples[idx], d_out[idx], probe.d_kind, nrow=8)
        images.append((png_bytes(strip),
                       f"{title}: {_numbers(d_out[idx].tolist(), probe.d_kind)}"))
    cache.update(snap=snap, images=images)
    return images


def _verdict_tab(tr, snap, key: str) -> None:
    score = (" (a raw score for this loss: the colours span this grid's lowest to highest)"
             if snap.probe.d_kind == "score" else "")
    (grid, caption), *strips = _verdict_images(snap, key)
    # PNG said outright: Streamlit otherwise decodes the bytes and encodes them again as JPEG
    st.image(grid, caption=caption, width="stretch", output_format="PNG")
    st.caption(EXPLAIN["verdict"].format(score=score))
    for strip, caption in strips:
        st.image(strip, caption=caption, width="stretch", output_format="PNG")
    st.caption(EXPLAIN["ranked"])


def _modes_tab(tr, snap, key: str) -> None:
    judge, why = _judge(tr.config.dataset)
    if judge is None:
        st.info(f"No mode map for this dataset: {safe.text(why.split(';')[0])}.")
        return
    samples = snap.samples
    classes, _ = judge_classes(judge, samples)
    counts = mode_counts(classes, judge.num_classes)
    names = tr.dataset.class_names if len(tr.dataset.class_names) == judge.num_classes \
        else [str(i) for i in range(judge.num_classes)]
    st.plotly_chart(views.mode_figure(counts, names, f"Step {snap.step}: {len(samples)} "
                                      f"samples by class"), width="stretch",
                    key=f"{key}_modes")
    st.caption(EXPLAIN["modes"])


def _nearest_tab(tr, snap, key: str) -> None:
    samples = snap.samples
    n = len(samples)
    pick_key = f"{key}_pick"
    # The pick outlives the widget, which is not drawn while its tab is closed (lazy).
    kept = st.session_state.get(pick_key, st.session_state.get(f"{key}_picked", 8))
    st.session_state[pick_key] = min(kept, n - 1)
    event = st.plotly_chart(views.clickable_grid(samples, chosen=[st.session_state[pick_key]]),
                            on_select="rerun", selection_mode="points",
                            key=f"{key}_grid", width="stretch")
    points = event.selection.points if event is not None and event.selection else []
    picked = points[0].get("customdata") if points else None
    picked = picked[0] if isinstance(picked, list) and picked else picked
    if picked is not None and picked != st.session_state.get(f"{key}_last_click"):
        st.session_state[f"{key}_last_click"] = picked       # a new click, not an old one
        st.session_state[pick_key] = int(picked)           # before the input is drawn
    st.caption("Click a sample in the grid (or type its number) to find its nearest "
               "training image; the first row is always compared.")
    pick = st.number_input(f"Sample number (0 = top left, {n - 1} = bottom right)", 0, n - 1,
                           key=pick_key)
    st.session_state[f"{key}_picked"] = int(pick)
    data, why = _training_images(tuple((k, getattr(tr.config, k)) for k in DATA_FIELDS))
    if data is None:
        st.info(f"The training images could not be loaded here: {safe.text(why)}")
        return
    chosen = list(range(min(8, n)))
    if int(pick) not in chosen:
        chosen.append(int(pick))
    idx, dist = nearest_real(samples[chosen], data)
    st.image(views.pairs_image(samples[chosen], data[idx]), width="stretch",
             caption="Top: samples " + ", ".join(map(str, chosen)) +
             ". Below: the nearest training image of each.")
    st.caption("Distances: " + " · ".join(f"#{c}: {d:.3f}" for c, d in
                                          zip(chosen, dist.tolist())))
    st.caption(EXPLAIN["nearest"])


def _push_tab(tr, snap, key: str) -> None:
    samples, probe = snap.samples, snap.probe
    k = len(probe.grads)
    c1, c2 = st.columns([1, 1])
    which = c1.selectbox("Sample (the grid's first row)", list(range(k)), key=f"{key}_push")
    smooth = c2.toggle("Smooth over neighbouring pixels", value=True, key=f"{key}_smooth",
                       help="Off: the raw gradient of each pixel, which is speckled for a "
                            "convolutional D; on: blurred over about 2 pixels, so whole "
                            "strokes show")
    st.plotly_chart(views.push_figure(samples[which], probe.grads[which],
                                      f"Step {snap.step}: sample {which}, D's verdict "
                                      f"{float(probe.d_out[which]):.2f}",
                                      sigma=1.0 if smooth else 0.0),
                    width="stretch", key=f"{key}_pushfig")
    st.caption(EXPLAIN["push"])


# --- step by step ----------------------------------------------------------------------------

def _stepper_for(cfg: TrainConfig):
    # settings that do not change the model or its updates keep the stepper going
    ignore = {"epochs", "max_steps", "max_seconds", "sample_every", "eval_every", "n_samples",
              "eval_samples", "data_dir", "download"}
    sig = tuple(sorted((k, v) for k, v in cfg.to_dict().items() if k not in ignore))
    held = st.session_state.get("stepper")
    if held is None or held[0] != sig:
        st.session_state.stepper = (sig, Stepper(cfg))
        st.session_state.step_report = None
    return st.session_state.stepper[1]


def step_by_step(cfg: Optional[TrainConfig], key: str = "sbs") -> None:
    """One D or one G update per click, the picture before and after, and the loss."""
    st.subheader("Step by step")
    st.caption(EXPLAIN["step"])
    if cfg is None:
        st.info("Fix the settings on the left first.")
        return
    if not is_points_dataset(cfg.dataset):
        image_steps.step_by_step_images(cfg, key=f"{key}_img")
        return
    try:
        s = _stepper_for(cfg)
    except (ValueError, DatasetError) as e:
        st.error(safe.text(e), icon=":material/warning:")
        return
    c = st.columns(4)
    action = None
    if c[0].button("One D step", type="primary", key=f"{key}_d", width="stretch"):
        action = "D"
    if c[1].button("One G step", type="primary", key=f"{key}_g", width="stretch"):
        action = "G"
    if c[2].button("Fast-forward 50 pairs", key=f"{key}_ff", width="stretch"):
        action = "ff"
    if c[3].button("Start again", key=f"{key}_reset", width="stretch"):
        st.session_state.pop("stepper", None)
        s = _stepper_for(cfg)
    try:
        if action == "D":
            st.session_state.step_report = s.d_step()
        elif action == "G":
            st.session_state.step_report = s.g_step()
        elif action == "ff":
            s.fast_forward(50)
            st.session_state.step_report = None
    except Diverged as e:
        st.error(f"This update diverged: {safe.text(e)}. Press Start again.", icon=":material/warning:")
    st.caption(f"So far: {s.d_steps} D updates and {s.g_steps} G updates. A D step uses a batch "
               f"of {cfg.batch_size} real points and the generated points shown; a G step uses "
               f"the {len(s.z)} generated points shown as its batch.")
    mesh, arrows = switches(key)
    report = st.session_state.get("step_report")
    if report is None:
        frame = s.frame(f"now, after {s.d_steps} D and {s.g_steps} G updates")
        st.plotly_chart(views.step_figures_single(frame, s.real_shown, s.extent, mesh, arrows),
                        width="stretch", key=f"{key}_now")
        st.caption("Press **One D step**: D's map moves and the points stay. Press **One G "
                   "step**: the points move along their arrows and the map stays.")
        return
    before, after = views.step_figures(report, s.real_shown, s.extent, mesh, arrows)
    left, right = st.columns(2)
    left.plotly_chart(before, width="stretch", key=f"{key}_before")
    right.plotly_chart(after, width="stretch", key=f"{key}_after")
    n = report.numbers
    who = "D" if report.who == "D" else "G"
    st.markdown(f"**{who} update {report.number}** — the loss {who} minimised, with this "
                f"step's numbers (bars are means over the batch of {n['batch']}):")
    st.latex(report.latex)
    st.markdown("The same batch after the update:")
    st.latex(report.latex_after)
    m = st.columns(3)
    if report.who == "D":
        m[0].metric("mean D(x) before", f"{n['d_real']:.3f}")
        m[1].metric("mean D(G(z)) before", f"{n['d_fake']:.3f}")
    else:
        m[0].metric("mean D(G(z)) before", f"{n['d_fake']:.3f}")
        m[1].metric("mean distance a point moved", f"{n['moved']:.4f}")
    m[2].metric(f"L_{who}", f"{n['loss_after']:.3f}", f"{n['loss_after'] - n['loss_before']:+.4f}",
                delta_color="inverse")


# --- Compare: both sides in lockstep -----------------------------------------------------------

def lockstep_play(key: str, n: int) -> None:
    """A play switch and a speed for the shared scrubber `{key}_scrub` (one step per rerun)."""
    c1, c2 = st.columns([1, 2])
    play = c1.toggle("Play both in lockstep", key=f"{key}_play")
    c2.select_slider("Replay speed", list(SPEEDS), value="1x", key=f"{key}_speed")
    if play != st.session_state.get(f"{key}_was_playing", False):
        st.session_state[f"{key}_was_playing"] = play
        st.rerun(scope="app")              # the page's timer starts or stops with it
    current = st.session_state.get(f"{key}_scrub", n - 1)
    if play:
        current = (current + 1) % n
    st.session_state[f"{key}_scrub"] = min(current, n - 1)


def play_every(key: str) -> Optional[float]:
    """Seconds between reruns while the lockstep replay plays, else None."""
    if not st.session_state.get(f"{key}_play"):
        return None
    return max(SPEEDS.get(st.session_state.get(f"{key}_speed", "1x"), 400) / 1000, 0.25)


def verdict_image(snap, caption: str) -> None:
    """The sample grid framed by D's verdict (plain when the snapshot has no probe)."""
    probe = getattr(snap, "probe", None)
    if probe is None:
        st.image(snapshot_image(snap.samples), width="stretch", caption=caption)
        return
    img, _ = views.verdict_grid(snap.samples, probe.d_out, probe.d_kind)
    st.image(img, width="stretch", caption=caption + "; frames: D's verdict (green = real to D)")

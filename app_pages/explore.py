"""Latent explorer: walk from one latent point to another, nudge single numbers of z, and see
everything a one-number latent can draw (the lesson of mode collapse).

Models come from this browser session's runs, this browser's saved runs, checkpoints under
pretrained/ (folders set by $GAN_LAB_MODEL_DIRS; loaded once and shared, as they are only
read; never another browser's runs: lab_app.saved.may_open), or from an upload. The drawing is in lab_app.explore; a slider move is one small forward pass, and the
strips are kept per session until their model, endpoints or path change.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Optional

import streamlit as st
import torch
from streamlit.errors import StreamlitAPIException

from gan_core.checkpoint import CheckpointError
from gan_core.shortrepr import short_repr
from lab_app import explore as ex
from lab_app import safe, saved
from lab_app.pages import page
from lab_app.ui import ROOT, owner_key, trained_generators

STRIP_FRAMES = 10        # frames from A to B
LINE_FRAMES = 16         # frames over [-3, 3] for a one-number latent
N_CANDIDATES = 16        # samples to pick endpoints from
N_CLOUD = 512            # generated points shown for a 2-D model
N_DIM_SLIDERS = 8
MAP_N = 9                # a latent-2 image model's map: MAP_N x MAP_N outputs
SEED_MAX = 2**31 - 1


# --- models ----------------------------------------------------------------------------------

@st.cache_resource(max_entries=32, show_spinner="Loading the checkpoint…")
def load_file_model(path: str, mtime: float) -> tuple[Optional[ex.Model], str]:
    """(model, "") or (None, message). One copy for the whole server: explorers only read it.
    `mtime` is in the key so a checkpoint rewritten by a training run is loaded afresh."""
    try:
        return ex.load_model_file(path, source=_relative(Path(path))), ""
    except CheckpointError as e:
        return None, str(e)
    except Exception as e:  # noqa: BLE001 - a strange file must not break the page
        return None, f"{_relative(Path(path))} could not be loaded ({type(e).__name__}: {e})"


def _relative(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def session_models() -> dict[str, tuple[str, ex.Model]]:
    """{stable key: (title, model)} for this session's runs, newest first. The title carries the
    step; the key does not, so the choice survives while a run keeps training."""
    out = {}
    for g in reversed(trained_generators()):
        t = g.trainer
        out[f"session:{g.name}"] = (f"{g.title} · this session", ex.Model(
            g.G, g.G.spec, t.config, g.step, list(t.dataset.class_names),
            "trained in this session"))
    return out


def upload_box() -> Optional[tuple[str, ex.Model]]:
    """The uploader; (key, model) for a good upload. Loaded once per uploaded file."""
    up = st.file_uploader(f"Upload a checkpoint (.pt, up to {ex.MAX_UPLOAD_MB} MB)", type=["pt"],
                          max_upload_size=ex.MAX_UPLOAD_MB, key="explore_upload",
                          help="A file written by `python -m gan_core train` or downloaded from "
                               "the Train page. Files that hold code rather than weights are "
                               "refused.")
    if up is None:
        st.session_state.pop("explore_uploaded", None)    # removed: let its model go
        return None
    done = st.session_state.get("explore_uploaded")
    if done is None or done["id"] != up.file_id:
        try:            # judged by its size before its bytes are copied
            if up.size > ex.MAX_UPLOAD_MB * 2**20:
                name = short_repr(up.name, 80).strip("'\"")
                raise CheckpointError(f"{name} is {up.size // 2**20} MB; the limit is "
                                      f"{ex.MAX_UPLOAD_MB} MB")
            model, error = ex.load_uploaded(up.getvalue(), up.name), ""
        except CheckpointError as e:
            model, error = None, str(e)
        done = {"id": up.file_id, "model": model, "error": error}
        st.session_state.explore_uploaded = done
        if model is not None:          # show the new upload straight away
            st.session_state.explore_model = f"upload:{up.file_id}"
    if done["error"]:
        st.error(f"That upload cannot be explored: {safe.text(done['error'])}",
                 icon=":material/warning:")          # it quotes the file's name and values
        return None
    return f"upload:{done['id']}", done["model"]


def no_models() -> None:
    st.info("There is no generator to explore yet. Train one on the **Train** page (it appears "
            "here once it has taken a step), or from a terminal:\n\n"
            "`python -m gan_core train --dataset mnist --epochs 1 --out runs/my_first_gan`\n\n"
            "Your saved runs and the models under `pretrained/` are listed here (a server "
            "with `GAN_LAB_MODEL_DIRS=pretrained:runs` lists `runs/` too); you can also "
            "upload one below.", icon=":material/explore:")
    try:
        train = page("train")
        st.page_link(train.file, label="Go to the Train page", icon=train.icon)
    except StreamlitAPIException:      # the page runs on its own (tests, `streamlit run` alone)
        st.caption("Open the Train page from the app's navigation.")
    st.stop()


def class_picker(model: ex.Model) -> Optional[int]:
    if not model.num_classes:
        return None
    if st.session_state.get("explore_class", 0) >= model.num_classes:
        st.session_state.explore_class = 0
    return st.selectbox("Class to draw", range(model.num_classes), format_func=model.class_name,
                        key="explore_class",
                        help="A conditional generator draws the class you ask for; z decides "
                             "the style.")


def store() -> OrderedDict:
    if "explore_cache" not in st.session_state:
        st.session_state.explore_cache = OrderedDict()
    return st.session_state.explore_cache


def reset_offsets() -> None:
    """Every nudge back to 0 (a widget whose state is removed starts from its default)."""
    for k in list(st.session_state):
        if isinstance(k, str) and k.startswith("explore_dim_"):
            del st.session_state[k]


def show(image, **kwargs) -> None:
    """PNG keeps the enlarged pixels sharp (JPEG would smear them)."""
    st.image(image, output_format="PNG", **kwargs)


# --- views -----------------------------------------------------------------------------------

def one_number_view(model: ex.Model, key: str) -> None:
    """Latent size 1: the slider is the whole latent space, the strip everything G can draw."""
    left, right = st.columns([1, 1.3], gap="large")
    with left:
        cls = class_picker(model)
        z = st.slider("z, the generator's only random number", -ex.SLIDER_RANGE, ex.SLIDER_RANGE,
                      0.0, 0.05, key="explore_z1")
        st.caption("With a latent size of 1 the generator gets a single number. Slide it from "
                   "-3 to 3 (where almost all of N(0, 1) lies) and you have seen every output "
                   "it can make.")
    zz = torch.tensor([[float(z)]])
    lesson = ("**This is the lesson of mode collapse:** everything this generator can ever draw "
              "is on this strip. One number only traces a thin line through image space, so "
              "however long it trains it can show a few shapes at most and must morph between "
              "them.")
    if model.is_points:
        curve = ex.cached(store(), ("curve", key, cls),
                          lambda: ex.render(model, ex.line(200), cls))
        cloud = ex.cached(store(), ("cloud", key, cls),
                          lambda: ex.render(model, ex.candidates(1, 0, N_CLOUD), cls))
        with right:
            st.plotly_chart(ex.points_figure(cloud, ex.render(model, zz, cls), route=curve,
                                             modes=ex.real_modes(model),
                                             title=f"G(z) for z from -3 to 3; red: z = {z:+.2f}",
                                             route_name="G(z) for every z from -3 to 3"),
                            key="explore_points1")
        st.markdown("**This is the lesson of mode collapse:** everything this generator can "
                    "ever draw is on the dotted curve. One number only traces a single curve "
                    "through the plane: it cannot spread over all the modes, only pass by them, "
                    "drawing points between them on the way.")
        return
    with right:
        show(ex.frame_image(ex.render(model, zz, cls)), caption=f"G(z) at z = {z:+.2f}")
    st.subheader(f"All of it: {LINE_FRAMES} frames from z = -3 to z = 3")
    strip = ex.cached(store(), ("line", key, cls, LINE_FRAMES),
                      lambda: ex.strip_image(ex.render(model, ex.line(LINE_FRAMES), cls),
                                             frame_px=56))
    index = round((z + ex.SLIDER_RANGE) / (2 * ex.SLIDER_RANGE) * (LINE_FRAMES - 1))
    show(ex.mark_frame(strip, index, LINE_FRAMES),
         caption="z = -3 on the left to z = +3 on the right; the outlined frame is the "
                 "nearest to the slider.")
    st.markdown(lesson)


def endpoints(model: ex.Model, key: str, cls: Optional[int]):
    """(a, b, picks): seeds for A and B, or two picks from a grid of samples; picks is
    (images, index of A, index of B) for the grid, drawn under the controls, else None."""
    d = model.latent_dim
    how = "Seeds" if model.is_points else st.radio(
        "Endpoints from", ["Seeds", "Pick from samples"], horizontal=True, key="explore_how")
    if how == "Seeds":
        ca, cb = st.columns(2)
        seed_a = ca.number_input("Seed A", 0, SEED_MAX, 1, key="explore_seed_a")
        seed_b = cb.number_input("Seed B", 0, SEED_MAX, 2, key="explore_seed_b")
        return ex.endpoint(d, int(seed_a)), ex.endpoint(d, int(seed_b)), None
    seed = st.number_input("Samples drawn with seed", 0, SEED_MAX, 0, key="explore_grid_seed")
    ca, cb = st.columns(2)
    def pick(i: int) -> str:
        return f"#{i + 1}"
    ia = ca.selectbox("A is sample", range(N_CANDIDATES), 0, format_func=pick, key="explore_pick_a")
    ib = cb.selectbox("B is sample", range(N_CANDIDATES), 1, format_func=pick, key="explore_pick_b")
    zs = ex.candidates(d, int(seed), N_CANDIDATES)
    images = ex.cached(store(), ("candidates", key, int(seed), cls),
                       lambda: [ex.frame_image(x, 56) for x in ex.render(model, zs, cls)])
    return zs[ia], zs[ib], (images, ia, ib)


def candidate_grid(images: list, ia: int, ib: int) -> None:
    """The samples to pick from, two rows of eight, A and B named in their captions."""
    st.subheader("Samples to pick A and B from")
    per_row = N_CANDIDATES // 2
    for row in range(2):
        for col, i in zip(st.columns(per_row), range(row * per_row, (row + 1) * per_row)):
            tag = " = A" if i == ia else " = B" if i == ib else ""
            with col:
                show(images[i], caption=f"#{i + 1}{tag}", width=64)


def dimension_sliders(d: int) -> dict[int, float]:
    """Offsets for up to eight coordinates of z, from a chosen first one."""
    first = 0
    if d > N_DIM_SLIDERS:
        first = st.number_input(f"First dimension shown (0 to {d - N_DIM_SLIDERS})", 0,
                                d - N_DIM_SLIDERS, 0, key="explore_first_dim")
    offsets = {}
    cols = st.columns(2)
    for n, i in enumerate(range(int(first), min(d, int(first) + N_DIM_SLIDERS))):
        with cols[n % 2]:
            offsets[i] = st.slider(f"z[{i}] +", -ex.SLIDER_RANGE, ex.SLIDER_RANGE, 0.0, 0.1,
                                   key=f"explore_dim_{i}")
    st.button("Reset nudges", on_click=reset_offsets, key="explore_reset")
    return offsets


def walk_view(model: ex.Model, key: str) -> None:
    d = model.latent_dim
    widths = [1.15, 1.6, 1.0] if model.is_points else [1.15, 1.35, 1.0]
    left, mid, right = st.columns(widths, gap="large")
    with left:
        cls = class_picker(model)
        st.subheader("1. Two endpoints")
        a, b, picks = endpoints(model, key, cls)
        st.subheader("2. Walk from A to B")
        t = st.slider("t (0 is A, 1 is B)", 0.0, 1.0, 0.0, 0.01, key="explore_t")
        mode = st.radio("Path", ["Linear", "Spherical (slerp)"], horizontal=True,
                        key="explore_mode",
                        help="Random z's of size D lie near a sphere of radius √D. A straight "
                             "line between two of them dips inside it, where G saw few z's "
                             "while training; slerp stays on the sphere.")
        spherical = mode.startswith("Spherical")
    with right:
        st.subheader("3. Nudge single numbers")
        st.caption("Each slider adds to one coordinate of z.")
        offsets = dimension_sliders(d)
    z = ex.with_offsets(ex.path_point(a, b, t, spherical), offsets)
    nudged = [f"z[{i}] {v:+.1f}" for i, v in offsets.items() if v]
    what = f"t = {t:.2f}, {'slerp' if spherical else 'linear'}" + (
        f", {', '.join(nudged)}" if nudged else "")
    ends = ("route", key, ex.tensor_key(a), ex.tensor_key(b), spherical, cls)

    if model.is_points:
        cloud = ex.cached(store(), ("cloud", key, cls),
                          lambda: ex.render(model, ex.candidates(d, 0, N_CLOUD), cls))
        route = ex.cached(store(), ends, lambda: ex.render(model, ex.path(a, b, 50, spherical),
                                                          cls))
        with mid:
            st.plotly_chart(ex.points_figure(cloud, ex.render(model, z.unsqueeze(0), cls),
                                             route=route, ends=route[[0, -1]],
                                             modes=ex.real_modes(model), title=f"G(z) at {what}"),
                            key="explore_points")
            st.caption("A 2-D generator draws points, not images. Orange: 512 of its samples; "
                       "dotted: where G takes the walk from A to B; red: G(z) now.")
        return

    with mid:
        show(ex.frame_image(ex.render(model, z.unsqueeze(0), cls)), caption=f"G(z) at {what}")
    if picks is not None:
        candidate_grid(*picks)
    st.subheader(f"The whole walk: {STRIP_FRAMES} frames from A to B")
    strip = ex.cached(store(), ends + (STRIP_FRAMES,),
                      lambda: ex.strip_image(ex.render(model, ex.path(a, b, STRIP_FRAMES,
                                                                      spherical), cls)))
    show(ex.mark_frame(strip, ex.nearest_frame(t, STRIP_FRAMES), STRIP_FRAMES),
         caption="A on the left, B on the right, without the nudges; the outlined frame is "
                 "the nearest to t.")
    if d == 2:
        with st.expander("Map of the whole latent plane", expanded=True):
            grid = ex.cached(store(), ("map", key, cls),
                             lambda: ex.strip_image(ex.render(model, ex.plane(MAP_N), cls),
                                                    frame_px=56, nrow=MAP_N))
            show(ex.mark_point(grid, z.tolist(), MAP_N),
                 caption=f"z[0] from -{ex.MAP_EXTENT} (left) to {ex.MAP_EXTENT} (right), "
                         f"z[1] from -{ex.MAP_EXTENT} (bottom) to {ex.MAP_EXTENT} (top). "
                         "The ring marks the current z.")


# --- the page --------------------------------------------------------------------------------

st.title("Latent explorer")
st.caption("A generator turns a vector of random numbers z into a sample. Walk from one z to "
           "another and nudge single numbers to see what it has learned, and what it cannot "
           "draw.")

picker = st.container()
session = session_models()
options: dict[str, tuple[str, object]] = dict(session)
found = ex.shared_files(ROOT, owner_key())
files = ex.model_files(ROOT, owner_key())
with st.expander("Upload a checkpoint", expanded=not (options or files)):
    uploaded = upload_box()
if uploaded is not None:
    options[uploaded[0]] = (uploaded[1].source, uploaded[1])
options.update(files)

with picker:
    if not options:
        no_models()
    if st.session_state.get("explore_model") not in options:
        st.session_state.pop("explore_model", None)
        if not session and uploaded is None and found:    # the best shipped model, not noise
            st.session_state.explore_model = f"file:{ex.opening_file(found)}"
    choice = st.selectbox("Model", list(options), format_func=lambda k: options[k][0],
                          key="explore_model",
                          help="This session's runs first, then uploads, then your saved runs "
                               "and the files under pretrained/ (newest first). Without a run "
                               "of your own it opens on the best shipped MNIST model.")
    title, what = options[choice]
    if isinstance(what, Path):
        if not saved.may_open(what, owner_key()):       # another browser's run or upload
            st.error("That file is not yours to open.", icon=":material/lock:")
            st.stop()
        try:
            mtime = what.stat().st_mtime
        except OSError:
            st.error(f"{safe.text(_relative(what))} has just disappeared; choose another model.")
            st.stop()
        model, error = load_file_model(str(what), mtime)
        if model is None:
            st.error(f"This checkpoint cannot be explored: {safe.text(error)}",
                     icon=":material/warning:")
            st.stop()
        model_key = f"{choice}@{mtime}"
    else:
        model = what
        model_key = f"{choice}@{model.step}"
    # the checkpoint's own words (its dataset's name) stay text
    st.markdown(" · ".join(f"{name} **{safe.text(value)}**" for name, value in ex.describe(model)))
    if note := ex.cluster_note(model):
        st.caption(note)

if st.session_state.get("explore_last_model") != choice:   # new model: start from the middle
    st.session_state.explore_last_model = choice
    reset_offsets()

if model.latent_dim == 1:
    one_number_view(model, model_key)
else:
    walk_view(model, model_key)

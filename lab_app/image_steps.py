"""The Train page's "Step by step" view for image sets (MNIST and the others): one D or one G
update per click, D's verdict before and after, what a G update changed, and the loss of that
update with its numbers. The updates are the trainer's own (gan_core.image_stepper); the
pictures come from lab_app.step_pictures.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Optional

import streamlit as st
import torch

from gan_core.checkpoint import load_checkpoint, read_checkpoint
from gan_core.config import TrainConfig
from gan_core.data import DatasetError
from gan_core.image_stepper import ImageReport, ImageStepper, Picture, difference
from gan_core.schema import CheckpointError
from gan_core.trainer import Diverged

from . import pretrained, safe
from .step_pictures import difference_tiles, numbered_tiles, shared_scale, verdict_tiles
from .ui import runs

FRESH = "the settings on the left (new G and D)"
FAST = 50       # training steps per "Fast-forward"
# settings that do not change the models or their updates keep the stepper going
IGNORED = {"epochs", "max_steps", "max_seconds", "sample_every", "eval_every", "n_samples",
           "eval_samples", "download", "device"}


def shipped_models(dataset: str) -> dict[str, Path]:
    """{label: file} of the shipped generators trained on `dataset` (images only)."""
    out = {}
    for name, entry in pretrained.index().get("models", {}).items():
        cfg = pretrained.entry_config(entry)
        if cfg is None or cfg.dataset != dataset or cfg.model == "mlp":
            continue
        for ck in entry.get("checkpoints", []):
            path = pretrained.PRETRAINED / str(ck.get("path", ""))
            if path.suffix == ".pt" and path.is_file():
                out[f"shipped model {path.stem}"] = path
    return out


def own_runs(dataset: str) -> dict[str, object]:
    """{label: run view} of this browser's Train-page runs on `dataset` that have a checkpoint
    and are not training now (paused, stopped or finished): the ones a student can step on."""
    out = {}
    for r in reversed(runs()):
        tr = r.job.trainer
        if r.kind != "train" or tr.config.dataset != dataset or tr.checkpoint_path is None:
            continue
        state = r.job.status().state
        if state in ("paused", "stopped", "finished"):
            out[f"your {safe.clean(r.name, 40)} ({state}, checkpoint of step "
                f"{tr.checkpoint_step})"] = tr
    return out


def _build(cfg: TrainConfig, source: str, shipped: dict[str, Path],
           mine: Optional[dict] = None) -> ImageStepper:
    if source == FRESH:
        return ImageStepper(cfg)
    if mine and source in mine:          # this browser's own run, from its last checkpoint
        tr = mine[source]
        state = read_checkpoint(tr.checkpoint_path)
        own = replace(tr.config, data_dir=cfg.data_dir, download=False, device="cpu")
        return ImageStepper(own, state=state)
    ck = load_checkpoint(shipped[source], with_discriminator=False)
    # the model's own recipe, on the data the page found; its file holds G only
    own = replace(ck.config, data_dir=cfg.data_dir, download=False, device="cpu",
                  subset=cfg.subset)
    return ImageStepper(own, generator=ck.G.state_dict())


def _stepper(cfg: TrainConfig, source: str, shipped: dict[str, Path],
             mine: Optional[dict] = None) -> ImageStepper:
    sig = (source, tuple(sorted((k, str(v)) for k, v in cfg.to_dict().items()
                                if k not in IGNORED)))
    held = st.session_state.get("img_stepper")
    if held is None or held[0] != sig:
        with st.spinner("Building G and D and loading the images..."):
            st.session_state.img_stepper = (sig, _build(cfg, source, shipped, mine))
        st.session_state.img_step_report = None
    return st.session_state.img_stepper[1]


def step_by_step_images(cfg: TrainConfig, key: str = "isbs") -> None:
    """The image step-by-step view: start, buttons, pictures before/after and the loss."""
    with st.container(key=key):         # one element for scripts/inside_screenshots.py
        _view(cfg, key)


def _view(cfg: TrainConfig, key: str) -> None:
    shipped = shipped_models(cfg.dataset)
    mine = own_runs(cfg.dataset)
    source = st.selectbox("Start from", [FRESH, *mine, *shipped], key=f"{key}_source",
                          help="Your paused or finished run: it goes on from its last "
                               "checkpoint (G, D, both optimisers, its recipe). A shipped "
                               "model's file holds its generator only: G starts trained, D "
                               "starts new, and the model's own recipe is used.")
    if st.session_state.get("img_step_action") == "reset":
        st.session_state.pop("img_step_action")
        st.session_state.pop("img_stepper", None)       # rebuilt from the same start
    try:
        s = _stepper(cfg, source, shipped, mine)
    except (ValueError, DatasetError, CheckpointError, OSError) as e:
        st.error(safe.text(e), icon=":material/warning:")
        return
    if source in mine:
        st.caption(f"Going on from your run's checkpoint of step {s.start_step}: G, D, both "
                   f"optimisers and the run's recipe ({safe.text(s.config.loss)} loss, batch "
                   f"{s.config.batch_size}). The batches start again at the beginning of its "
                   f"epoch {s.trainer.epoch}: a checkpoint does not keep the place within an "
                   f"epoch. Your run itself is not changed.")
    elif source != FRESH:
        st.caption(f"Recipe of this model: {safe.text(s.config.loss)} loss, batch "
                   f"{s.config.batch_size}, learning rates {s.config.lr_g:g} (G) / "
                   f"{s.config.lr_d:g} (D). D starts new: the shipped file holds G only.")
    if not mine:
        st.caption("Pause or finish a run in the live view and it appears under *Start from*, "
                   "to go on from its last checkpoint one update at a time.")
    _run_action(s)
    _buttons(s, key)
    c = s.config
    st.caption(f"So far: **{s.d_steps} D updates and {s.g_steps} G updates** "
               f"({s.steps} training steps). Next in the trainer's order: **{s.next_update}**. "
               f"One step here is exactly one of the trainer's: a D update on a batch of "
               f"{c.batch_size} real and {c.batch_size} generated images, then "
               f"{_g_rule(c)}, with the run's own optimiser, clipping and recipe.")
    report: Optional[ImageReport] = st.session_state.get("img_step_report")
    if report is None:
        _now(s)
    else:
        _report(s, report)


def _g_rule(c: TrainConfig) -> str:
    g = "one G update" if c.g_steps_per_d_step == 1 else f"{c.g_steps_per_d_step} G updates"
    if c.d_steps_per_g_step > 1:
        return f"{g} after every {c.d_steps_per_g_step} D updates"
    return g


def _click(action: str, who: str = "") -> None:
    """A button's callback: note the action; the page runs it before drawing the buttons, so
    they show the new state, and a spinner shows while it runs."""
    st.session_state.img_step_action = action
    st.session_state.img_step_who = who         # a click that raced a rerun runs nothing


def _run_action(s: ImageStepper) -> None:
    action = st.session_state.pop("img_step_action", None)
    try:
        if action == "step" and st.session_state.pop("img_step_who", "") == s.next_update:
            with st.spinner(f"One {s.next_update} update..."):
                st.session_state.img_step_report = s.step()
        elif action == "ff":
            with st.spinner(f"{FAST} training steps ({FAST} D and {FAST} G updates or more; "
                            f"some seconds on a CPU)..."):
                s.fast_forward(FAST)
            st.session_state.img_step_report = None
    except Diverged as e:
        st.error(f"This update diverged: {safe.text(e)}. Press Start again.",
                 icon=":material/warning:")


def _buttons(s: ImageStepper, key: str) -> None:
    nxt = s.next_update
    wait = "The trainer's order: D first in every step, then G when it is due."
    b = st.columns(4)
    for col, who in zip(b, "DG"):
        col.button(f"One {who} step", type="primary" if nxt == who else "secondary",
                   disabled=nxt != who, key=f"{key}_{who.lower()}", width="stretch",
                   help=None if nxt == who else wait, on_click=_click, args=("step", who))
    b[2].button(f"Fast-forward {FAST}", key=f"{key}_ff", width="stretch", on_click=_click,
                args=("ff",), help=f"{FAST} whole training steps at once, without pictures")
    b[3].button("Start again", key=f"{key}_reset", width="stretch", on_click=_click,
                args=("reset",))


def _mean(t: torch.Tensor) -> float:
    return float(t.float().mean())


def _pictures(pic: Picture, kind: str, scale, title: str, col) -> None:
    col.markdown(f"**{title}**")
    # the numbers as page data (for tests and anyone reading the page's HTML): a fingerprint
    # of the samples' pixels and D's numbers as drawn under the images
    digest = hashlib.sha1(pic.samples.numpy().tobytes()).hexdigest()[:16]
    col.html(f'<div data-testid="imgstep-picture" data-which="{title.split(":")[0].lower()}" '
             f'data-label="{pic.label}" '
             f'data-samples="{digest}" data-d-fake="{_numbers(pic.d_fake)}" '
             f'data-d-real="{_numbers(pic.d_real)}"></div>')
    col.image(verdict_tiles(pic.samples, pic.d_fake, kind, scale), width="stretch")
    col.caption(f"D's verdict on the {len(pic.samples)} samples: mean "
                f"**{_mean(pic.d_fake):.3f}**; G's loss on them: {_mean(pic.g_terms):.3f}")
    col.image(verdict_tiles(pic.real, pic.d_real, kind, scale), width="stretch")
    col.caption(f"D's verdict on {len(pic.real)} real images: mean **{_mean(pic.d_real):.3f}**")


def _legend(kind: str, where=st) -> None:
    what = ("D's probability that the image is real" if kind == "probability" else
            "D's raw score (higher = more real; colours span the lowest to highest shown)")
    where.caption(f"Under each image: {what}. Frames: :green[green] = real to D, :orange[yellow] "
                  f"= unsure, :red[red] = fake to D.")


def _now(s: ImageStepper) -> None:
    pic = s.picture(f"now, after {s.d_steps} D and {s.g_steps} G updates")
    kind = "score" if s.trainer.loss.spec.raw_scores else "probability"
    scale = shared_scale([pic.d_fake, pic.d_real], kind)
    left, right = st.columns(2)
    _pictures(pic, kind, scale, f"Now: after {s.d_steps} D and {s.g_steps} G updates", left)
    right.info("Press **One D step**: D learns from one batch, so the numbers under the "
               "images change and the samples stay as they are. Then **One G step**: G learns, "
               "the samples change, and a picture shows where ink was added (red) and removed "
               "(blue). **Fast-forward 50** a few times, and digits appear.")
    _legend(kind, right)


def _report(s: ImageStepper, r: ImageReport) -> None:
    kind = r.d_kind
    scale = shared_scale([r.before.d_fake, r.before.d_real, r.after.d_fake, r.after.d_real], kind)
    if r.who == "D":
        st.markdown(f"#### D update {r.number}: D learned from one batch; G did not change")
    else:
        st.markdown(f"#### G update {r.number}: G learned from one batch; D did not change")
    left, right = st.columns(2)
    _pictures(r.before, kind, scale, "Before", left)
    _pictures(r.after, kind, scale, "After", right)
    _legend(kind)
    _changes(r)
    _loss(s, r)


def _changes(r: ImageReport) -> None:
    before, after = r.before, r.after
    dd, dr = _mean(after.d_fake) - _mean(before.d_fake), _mean(after.d_real) - _mean(before.d_real)
    m = st.columns(3)
    m[0].metric("D on the samples (mean)", f"{_mean(after.d_fake):.3f}", f"{dd:+.3f}",
                delta_color="off")
    m[1].metric("D on the real images (mean)", f"{_mean(after.d_real):.3f}", f"{dr:+.3f}",
                delta_color="off")
    changed = int((before.samples != after.samples).flatten(1).any(1).sum())
    if r.who == "D":
        m[2].metric("Samples changed", f"{changed} of {len(after.samples)}")
        st.caption("G did not move: the samples are pixel for pixel the same as before"
                   if changed == 0 else f"{changed} samples changed.")
        return
    delta, largest = difference(before.samples, after.samples)
    m[2].metric("Samples changed", f"{changed} of {len(after.samples)}")
    st.markdown("**What G's update changed in each sample**")
    st.image(difference_tiles(delta), width="content")
    st.caption(f"G moved: {changed} of {len(after.samples)} samples changed, by up to "
               f"{largest:.0f} grey levels of 255. :red[Red] = brighter (ink added), "
               f":blue[blue] = darker (ink removed), white = unchanged; the stronger the "
               f"colour, the bigger the change (full colour = the largest).")


def _loss(s: ImageStepper, r: ImageReport) -> None:
    who = r.who
    st.markdown(f"**The loss {who} minimised in this update**, with this batch's numbers (bars "
                f"are means over the batch of {r.batch}):")
    st.latex(r.latex)
    notes = []
    c = s.config
    if who == "D" and c.label_smoothing:
        notes.append(f"label smoothing: the real term is cross-entropy against "
                     f"{1 - c.label_smoothing:g}, not 1")
    if c.augment:
        notes.append(f"D saw the images through the augmentation ({safe.text(c.augment)})")
    if notes:
        st.caption("Also in this update: " + "; ".join(notes) + ".")
    k = len(r.batch_images["fake"])
    if who == "D":
        st.image(numbered_tiles(r.batch_images["real"], _terms(r.batch_terms["real"]),
                                scale=2, text_h=16, max_side=56), width="content")
        st.caption(f"The first {k} real images of the batch, each with its own term "
                   f"${r.term_latex['real']}$ (the mean over all {r.batch} is the first number "
                   f"above).")
    st.image(numbered_tiles(r.batch_images["fake"], _terms(r.batch_terms["fake"]),
                            scale=2, text_h=16, max_side=56), width="content")
    where = "the second number above" if who == "D" else "L_G above"
    st.caption(f"The first {k} generated images of the batch, each with its own term "
               f"${r.term_latex['fake']}$ (the mean over all {r.batch} is {where}).")


def _numbers(t: torch.Tensor) -> str:
    return " ".join(f"{v:.4f}" for v in t.tolist())


def _terms(t: torch.Tensor) -> list[str]:
    return [f"{v:.3f}" for v in t.tolist()]

"""Compare: two runs on one recipe that differ only in the loss (and clipping), trained in
lockstep, beside what the shipped sweeps say about the same pair over several seeds."""
from pathlib import Path

import streamlit as st

from gan_core.checkpoint import load_checkpoint
from gan_core.config import PRESETS, RECIPES, TrainConfig
from gan_core.data import DatasetError
from gan_core.images import grid_image, snapshot_image
from gan_core.losses import LOSSES, loss_of
from gan_core.sampling import generate, latent
from gan_core.sources import missing_line
from lab_app import charts, inside, livecharts, pretrained, safe, saved
from gan_core.datasets import is_points_dataset, point_sets
from lab_app.recipes import describe, recipe_line, recipe_name
from lab_app.settings import (COMPARE_SIDES, compare_config, compare_options,
                              compare_side_from_url, find_data_dir, mnist_available)
from lab_app.sweep_results import FOCAL_SWEEPS, focal_arm, head_to_head
from lab_app.ui import (FIRST_STEP_WAIT_S, LIVE_REFRESH_S, SLOW_REFRESH_S, Run, add_run,
                        every_slow, latest_run, new_job, owner_key)

st.title("Compare two losses")

SIDES = COMPARE_SIDES


url = st.query_params.to_dict()
if st.session_state.get("cmp_url") != url or "c_dataset" not in st.session_state:
    data_ok = mnist_available(find_data_dir())
    ds = url.get("dataset") or ("mnist" if data_ok else "ring")
    if ds == "mnist" and not data_ok:
        st.session_state.cmp_notice = (f"{missing_line('mnist', find_data_dir())} The ring is "
                                       f"used meanwhile.")
        ds = "ring"
    st.session_state.c_dataset = ds if ds in ("mnist", *point_sets()) else "ring"
    try:
        st.session_state.c_epochs = max(1, min(int(url.get("epochs", 3)), 50))
    except ValueError:
        st.session_state.c_epochs = 3
    for side in SIDES:
        s = compare_side_from_url(url.get(side.lower()), SIDES[side])
        st.session_state[f"c_{side}_loss"] = s["loss"]
        st.session_state[f"c_{side}_clip"] = s["clip"]
    # recipe=fast|plain: the layer both sides start from (a lesson link names it)
    st.session_state.c_recipe = url.get("recipe") if url.get("recipe") in RECIPES else "fast"
    if url.get("recipe") and url["recipe"] not in RECIPES:
        st.session_state.cmp_notice = (f"The link's recipe is unknown (use "
                                       f"{' or '.join(RECIPES)}); the "
                                       f"{RECIPES['fast'].name} is used.")
    st.session_state.c_recipe_last = st.session_state.c_recipe
    if st.session_state.c_recipe == "plain" and pretrained.timeline("paper"):
        st.session_state.cmp_pre_model = "paper"     # the shipped pair made the papers' way
    st.session_state.cmp_url = url
if st.session_state.get("cmp_notice"):
    st.warning(st.session_state.cmp_notice)


def keep_a_recipe() -> None:
    """Clicking the chosen recipe again would leave none: keep the last one instead."""
    if st.session_state.c_recipe is None:
        st.session_state.c_recipe = st.session_state.get("c_recipe_last", "fast")
    st.session_state.c_recipe_last = st.session_state.c_recipe


recipe = st.segmented_control(
    "Recipe, the same for A and B", list(RECIPES), key="c_recipe", format_func=recipe_name,
    on_change=keep_a_recipe,
    help="Learning rates, batch, cluster conditioning and where the samples come from")
recipe = recipe if recipe in RECIPES else "fast"
toy_now = is_points_dataset(st.session_state.c_dataset)
st.caption(recipe_line(recipe, toy_now))
st.caption(f"Both runs share the seed, the initial weights, the order of the batches, the noise "
           f"and the recipe above ({RECIPES[recipe].name}): the only difference is what you "
           f"pick for A and B (WGAN-GP, which needs its own optimiser, brings it).")

data_dir = find_data_dir()
with st.container(border=True):
    c = st.columns([1.2, 1, 1, 1, 1.3])
    dataset = c[0].selectbox("Dataset", compare_options(data_dir), key="c_dataset")
    epochs = c[1].number_input("Epochs", 1, 50, key="c_epochs",
                               help="The FLGAN paper shows epochs 1, 4 and 8")
    seed = c[2].number_input("Seed", 0, 2**31 - 1, 0, key="c_seed")
    subset = c[3].number_input("Samples (0: all)", 0, 100_000, 0, step=1000, key="c_subset")
    sides = st.columns(2)
    picks = {}
    for col, side in zip(sides, SIDES):
        with col:
            a, b, g = st.columns([2, 1, 1])
            loss = a.selectbox(f"{side}: loss", list(LOSSES), key=f"c_{side}_loss",
                               format_func=lambda k: LOSSES[k].title)
            clip = b.checkbox("Clip 0.25", key=f"c_{side}_clip",
                              help="The FLGAN authors' code clips gradient norms at 0.25")
            gamma = g.number_input("gamma", 0.0, 10.0, 2.0, 0.5, key=f"c_{side}_gamma",
                                   disabled=not LOSSES[loss].uses_gamma)
            picks[side] = dict(loss=loss, grad_clip=0.25 if clip else None, focal_gamma=gamma)
    start = c[4].button("Train both", type="primary", width="stretch")
    batch = RECIPES[recipe].values(False).get("batch_size", 32)
    # MNIST here: the 8,000 training digits of the test split (2,000 are the quality reference)
    c[4].caption(f"An MNIST epoch is {8_000 // batch:,} steps of {batch} (8,000 digits); at "
                 f"batch 32 it takes about a minute for the pair on 2 CPU cores.")


def make_config(side: str) -> TrainConfig:
    return compare_config(dataset, picks[side], int(epochs), int(seed), int(subset) or None,
                          data_dir, recipe)


def seeds_view() -> None:
    """The shipped sweeps' answer over several seeds, for the pair picked above (or FLGAN
    against DCGAN): one live run is one seed, and the winner can change with it."""
    arms = [focal_arm(p["loss"], p["grad_clip"] is not None, p["focal_gamma"])
            for p in picks.values()]
    a, b = arms if None not in arms and arms[0] != arms[1] else ("focal_clip", "neither")
    results = [r for r in (head_to_head(n, a, b) for n in FOCAL_SWEEPS) if r]
    if not results:
        return
    with st.container(border=True):
        first = results[0]["arms"]
        st.markdown(f"**{first[0]['short']} vs {first[1]['short']} over several seeds**, from "
                    f"the shipped sweeps of the Experiments page")
        if (a, b) == ("focal_clip", "neither") and arms != [a, b]:
            st.caption("The sweeps test focal loss (gamma 2) and clipping 0.25 against the DCGAN "
                       "loss; your A and B are not two of their arms, so FLGAN against DCGAN is "
                       "shown.")
        for col, r in zip(st.columns(len(results)), results):
            with col:
                model = f"the {r['model']} model ({r['model_about']})" if r["model"] else \
                    "several models"
                st.markdown(f"*{r['title']}*: {model}, {r['recipe_text'] or 'mixed recipes'}, "
                            f"{r['steps']:,} steps of batch {r['batch_size']}.")
                st.dataframe(
                    [{"": x["short"], f"steps to {r['threshold']}": x["steps_text"],
                      "min-max": x["range_text"], "seconds": x["seconds_text"],
                      "reached": f"{x['reached']} of {x['seeds']}"}
                     for x in r["arms"]], hide_index=True, width="stretch")
                st.markdown(r["sentence"])
                if r["evaluator_note"]:
                    st.caption(r["evaluator_note"])
        live = RECIPES[recipe].name
        used = {r["recipe"] for r in results}
        if used != {recipe}:
            st.caption(f"These sweeps used {' and '.join(recipe_name(k) for k in used)}; the "
                       f"live pair here uses the {live}, so its answer may differ (pick the "
                       f"sweeps' recipe above to run it their way). Mean ± "
                       f"standard deviation over seeds; a mean marked >= counts a seed that "
                       f"never got there at its last step. Seconds were measured on a shared "
                       f"machine and are noisier than steps.")
        else:
            st.caption(f"The live pair uses the same recipe ({live}). Mean ± standard deviation "
                       f"over seeds; a mean marked >= counts a seed that never got there at its "
                       f"last step. Seconds were measured on a shared machine and are noisier "
                       f"than steps.")


if dataset == "mnist":
    seeds_view()

run = latest_run("compare")
if start:
    if run is not None and run.active:
        run.job.stop()
    try:
        cfg_a, cfg_b = make_config("A"), make_config("B")
        names = [f"A: {LOSSES[cfg_a.loss].title}{' + clip' if cfg_a.grad_clip else ''}",
                 f"B: {LOSSES[cfg_b.loss].title}{' + clip' if cfg_b.grad_clip else ''}"]
        name, token = f"comparison {len(st.session_state.runs) + 1}", owner_key()
        with st.spinner("Checking the data..."):
            job = new_job([cfg_a, cfg_b], name)   # one worker: same data, seed, init
        # kept on disk when it ends (Train lists them)
        job.on_end(lambda tr, side: saved.persist(tr, token, name, names[side]))
        run = add_run(Run(name, job.start(), kind="compare", labels=names), url)
        job.wait_first_step(FIRST_STEP_WAIT_S)
    except (ValueError, DatasetError) as e:
        st.error(safe.text(e), icon=":material/warning:")

@st.cache_resource(show_spinner=False)
def shipped_generator(path: str, mtime: float):
    """Read-only models, loaded once for everybody."""
    return load_checkpoint(path, with_discriminator=False)


def pretrained_view():
    """The FLGAN paper's Figure 2 from the shipped models: no training, no waiting."""
    card = pretrained.index()
    options = [m for m in ("classroom", "paper", "best") if pretrained.timeline(m)]
    if not options:
        st.info("Pick A and B and press **Train both**. (No pretrained models are shipped in "
                "this copy, so there is nothing to show before training.)")
        return
    st.subheader("Already trained: FLGAN vs DCGAN on MNIST")
    model = st.radio("Model", options, horizontal=True, key="cmp_pre_model",
                     format_func=lambda m: {"classroom": "classroom (28x28), fast recipe",
                                            "paper": "paper (the FLGAN authors' 32x32 DCGAN), "
                                                     "plain recipe",
                                            "best": "best (classroom, fast recipe, seed 1)"}[m])
    lines = pretrained.timeline(model)
    entry = card.get("models", {}).get(f"mnist_{model}_flgan", {})
    seed = entry.get("config", {}).get("seed", 0)
    st.caption(f"Trained by `scripts/make_pretrained.py` on the 10,000 MNIST test digits, seed "
               f"{seed}. {pretrained.pair_recipe(model)} The FLGAN paper's epochs are passes "
               "over 60,000 digits, so epoch 1, 4 and 8 here mean the same number of images "
               "seen: 60,000, 240,000 and 480,000 (938, 3,752 and 7,504 steps of 64). Samples "
               "from the same 32 noise vectors; figures from the judge classifier on 1,000 "
               "samples (see pretrained/README.md).")
    labels = {"flgan": "FLGAN: focal loss (gamma 2) + clipping 0.25", "dcgan": "DCGAN: non-saturating"}
    z = latent(32, 100, seed=0)
    histories = {}
    for preset, cks in lines.items():
        spec = LOSSES[PRESETS[preset]["loss"]]
        head, formula = st.columns([1, 2], vertical_alignment="center")
        head.markdown(f"**{labels[preset]}**  \n{spec.summary}")
        formula.latex(spec.latex_g.replace(r"\gamma", "2"))
        cols = st.columns(len(cks))
        for col, (epoch, ck) in zip(cols, sorted(cks.items())):
            loaded = shipped_generator(ck["path"], Path(ck["path"]).stat().st_mtime)
            img = grid_image(generate(loaded.G, z[:, :loaded.spec.latent_dim]), nrow=8)
            m = ck.get("metrics", {})
            seen = ck.get("images_seen", ck["step"] * 64)
            caption = f"epoch {epoch} ({seen:,} images seen)"
            if m:
                caption += (f": {m['confident_share']:.0%} confident, "
                            f"{m['classes_covered']}/10 digits, {pretrained.quality_text(m)}")
            col.image(img, caption=caption, width="stretch")
            if loaded.history:
                histories[preset.upper()] = loaded.history
    if len(histories) == 2:
        c = st.columns(2)
        c[0].plotly_chart(charts.loss_figure(histories), width="stretch", key="pre_loss")
        c[1].plotly_chart(charts.probability_figure(histories), width="stretch", key="pre_prob")
    if model == "best":
        real = card.get("real_confident_share")
        st.caption("The best generators the lab ships: the Fast classroom recipe, cluster "
                   "conditioning and the EMA of G included (G and D are told which of 50 "
                   "clusters of look-alike digits, found without labels, each image belongs "
                   "to), after the paper's epoch 8, identical for both losses; seed 1, so that "
                   "they are not the classroom timeline's last picture again."
                   + (f" Real digits get {real:.0%} confident answers from the judge."
                      if real else ""))
    if entry.get("wall_seconds"):
        where = f" on {entry['machine']}" if entry.get("machine") else " on 2 CPU cores"
        st.caption(f"Each took about {max(1, round(entry['wall_seconds'] / 60))} minutes to "
                   f"train{where}. Press **Train both** above to run your own comparison live.")


if run is None:
    pretrained_view()
    st.stop()

live = run.job.alive


def view():
    job = run.job
    ta, tb = job.trainers
    if live and not job.alive:
        st.rerun(scope="app")
    job.seen()                           # unwatched runs pause and give their slot back
    status = job.status()
    total = max(status.total_steps, 1)
    if status.state == "queued":
        st.warning(f"{safe.text(status.message)}.", icon=":material/hourglass_top:")
    st.progress(min(status.step / total, 1.0),
                text=f"{status.state}: step {status.step}/{total}, epoch "
                     f"{min(ta.epoch + 1, ta.config.epochs)}/{ta.config.epochs}")
    if status.state == "failed":
        st.error(f"Stopped: {safe.text(status.message)}")
    st.caption(f"Both sides: {describe(ta.config.to_dict(), ta.dataset.is_points)}.")
    if status.state == "paused":
        st.info(f"{status.message}.", icon=":material/pause:")
        if st.button("Resume", key="cmp_resume"):
            job.resume()
    if job.alive and st.button("Stop both", key="cmp_stop"):
        job.stop()

    n = min(len(ta.snapshots), len(tb.snapshots))
    idx = n - 1
    if n > 1 and not job.alive:
        inside.lockstep_play("cmp", n)         # one scrubber drives both sides
        idx = st.slider("Step shown", 0, n - 1, key="cmp_scrub", format="snapshot %d")
    mesh = arrows = False
    if ta.dataset.is_points:
        mesh, arrows = inside.switches("cmp")
    cols = st.columns(2)
    for col, tr, name in zip(cols, (ta, tb), run.labels):
        spec = LOSSES[tr.config.loss]
        with col:
            st.subheader(name)
            st.latex(loss_of(tr.config).latex(spec.latex_g))
            st.caption(spec.summary + (" Gradient norms clipped at "
                                       f"{tr.config.grad_clip:g}." if tr.config.grad_clip else ""))
            if n:
                snap = tr.snapshots[idx]
                if tr.dataset.is_points:
                    inside.points_view(tr, snap, f"toy_{name}", mesh, arrows, explain=False)
                else:
                    inside.verdict_image(snap, f"step {snap.step}, same noise for both")
            if tr.history:
                last = tr.history[-20:]
                def mean(k, last=last):
                    return sum(r[k] for r in last) / len(last)
                m = st.columns(3)
                what = " score" if spec.raw_scores else ""    # raw score, not a probability
                m[0].metric(f"D(x){what}", f"{mean('d_real'):.2f}")
                m[1].metric(f"D(G(z)){what}", f"{mean('d_fake'):.2f}")
                m[2].metric("images/s", f"{tr.history[-1]['images_per_s']:,.0f}")
                measured = [r for r in tr.history if "m_judge_fd" in r]
                if measured:
                    latest = measured[-1]
                    st.caption(f"Step {latest['step']}: {pretrained.quality_text(latest)}")

    if n and ta.dataset.is_points:
        st.caption("Both sides at the same step, from the same seed and noise. " +
                   "  \n".join([inside.EXPLAIN["map"], inside.EXPLAIN["mesh"].format(latent=""),
                                inside.EXPLAIN["arrows"].format(k=8)]))
    if ta.history:
        # The Train page's live charts (lab_app.livecharts): updated in place in the browser,
        # each side's history kept as columns and extended
        kept = st.session_state.setdefault("cmp_columns", {})
        if kept.get("job") != run.job.id:
            kept.clear()
            kept.update(job=run.job.id, sides=[livecharts.Columns(), livecharts.Columns()])
        cols = {label[:1]: side.update(list(tr.history))
                for label, side, tr in zip(run.labels, kept["sides"], (ta, tb))}
        running = live and status.state == "running"
        figs = every_slow("cmp_charts", run.job.id, running, lambda: (
            livecharts.loss_chart(cols), livecharts.probability_chart(cols)))
        c = st.columns(2)
        for where, (spec, data), key in zip(c, figs, ("cmp_loss", "cmp_prob")):
            where.vega_lite_chart(data, spec, width="stretch", key=key)
        st.caption(f"Solid: {safe.text(run.labels[0])}; dashed: {safe.text(run.labels[1])}. "
                   "Faint lines: every step; bold: smoothed."
                   + (f" While they train, the charts redraw every {SLOW_REFRESH_S:g} s."
                      if running else ""))

    # The FLGAN paper's Figure 2: samples after epochs 1, 4 and 8 (of whatever data is here).
    epochs_done = sorted({s.epoch for s in ta.snapshots if s.epoch > 0
                          and s.step == s.epoch * ta.steps_per_epoch})
    wanted = [e for e in (1, 4, 8) if e in epochs_done] or epochs_done[-3:]
    if wanted and not ta.dataset.is_points:
        st.subheader("Timeline: end of epochs " + ", ".join(map(str, wanted)))
        images = ta.steps_per_epoch * ta.config.batch_size
        st.caption(f"One epoch here is {images:,} images ({len(ta.dataset):,} in the data); the "
                   f"FLGAN paper's epoch is 60,000 MNIST digits, so epoch 1 here is "
                   f"{images / 60_000:.2f} of the paper's epochs.")
        for tr, name in zip((ta, tb), run.labels):
            by_epoch = {s.epoch: s for s in tr.snapshots if s.step == s.epoch * tr.steps_per_epoch}
            cols = st.columns(len(wanted) + 1)
            cols[0].markdown(f"**{name}**")
            for col, e in zip(cols[1:], wanted):
                if e in by_epoch:
                    seen = by_epoch[e].step * tr.config.batch_size
                    col.image(snapshot_image(by_epoch[e].samples),
                              caption=f"epoch {e} ({seen:,} images seen)", width="stretch")


st.fragment(view, run_every=LIVE_REFRESH_S if live else inside.play_every("cmp"))()

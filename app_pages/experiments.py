"""Experiments: each paper's claim, the shipped results over several seeds, and a verdict."""
import tempfile
from pathlib import Path

import streamlit as st

from gan_core import claims, sweep_stats, versions
from gan_core.jobs import SweepJob
from lab_app import charts, limits, safe
from lab_app.sweep_results import (comparison_rows, in_short, load_results_dir, load_shipped,
                                  nearest_pairs)
from lab_app.settings import find_data_dir, mnist_available
from lab_app.ui import get_pool, owner_key

st.title("Experiments")
st.caption("Each paper behind this lab makes claims from one run and a look at the images. "
           "Here every claim is a sweep over several seeds, with numbers from the judge "
           "classifier and a verdict computed from them.")

names = list(claims.EXPERIMENTS)
asked = st.query_params.get("exp")
if "exp_choice" not in st.session_state or (asked in names and asked != st.session_state.get("exp_url")):
    st.session_state.exp_choice = asked if asked in names else names[0]
    st.session_state.exp_url = asked
name = st.selectbox("Experiment", names, key="exp_choice",
                    format_func=lambda n: f"{claims.EXPERIMENTS[n].title} ({n})")
st.query_params["exp"] = name
exp = claims.EXPERIMENTS[name]

st.markdown(f"> **Claim ({exp.source}):** {exp.claim}")
st.markdown(f"**Set-up.** {exp.setup}")


def show_results(summary: dict, rows: list[dict], curves: list[dict], key: str,
                 folder: Path | None) -> None:
    """Verdict, curve with its band across seeds, bars with one dot per seed, and the table."""
    lead = in_short(summary) if summary.get("complete") and not summary.get("quick") else ""
    if lead:
        st.markdown(f"**In short** (each pair compared seed by seed, Holm-corrected): {lead}")
    if summary.get("complete") and not summary.get("quick"):
        st.success(f"**Verdict.** {summary['verdict']}", icon=":material/gavel:")
    elif summary.get("complete"):
        st.info(f"**Verdict.** {summary['verdict']}", icon=":material/construction:")
    else:
        st.warning(summary["verdict"], icon=":material/hourglass_top:")
    mixed = versions.describe(summary)
    if mixed:
        st.warning(safe.text(mixed), icon=":material/history:")
    table = comparison_rows(summary)
    if table:
        with st.expander(f"The {len(table)} comparisons behind the verdict (paired by seed)"):
            st.caption("Each row: the mean difference between two arms over the seeds they "
                       "share, its 95% confidence interval, the test's p-value before and after "
                       "Holm's correction over this verdict's comparisons, and whether it is "
                       "clear (corrected p below 0.05).")
            st.dataframe(table, width="stretch", hide_index=True)
    metric = exp.curve
    threshold = exp.threshold[2] if exp.threshold and exp.threshold[0] == metric else None
    x_choice = st.radio("Curve against", ["step", "time_s"], horizontal=True,
                        format_func={"step": "steps (real batches)",
                                     "time_s": "training seconds"}.get, key=f"x_{key}")
    bands = sweep_stats.curve_bands(exp, curves, metric, x_choice)
    if bands:
        st.plotly_chart(charts.band_figure(
            bands, f"{claims.NAMES.get(metric, metric)}: mean over seeds, band = lowest to highest",
            claims.NAMES.get(metric, metric),
            "step (real batches)" if x_choice == "step" else "training seconds",
            log_y=metric == "judge_fd", threshold=threshold, balance=claims.balance_line(exp)),
            width="stretch", key=f"band_{key}")
    stats = summary["arms"]
    bars = exp.bars
    if exp.runner == "cgan-augment":       # one chart across the shares, not a bar per share
        st.plotly_chart(charts.share_figure(rows, claims.AUGMENT_SHARES, "A classifier trained on "
                                            "real and generated digits, tested on real ones"),
                        width="stretch", key=f"share_{key}")
        bars = tuple(b for b in bars if not b.startswith("acc_gen_"))
    st.caption("In the bar charts below, a bar is the mean over seeds with a line of ± one "
               "standard deviation, and each circle is one seed.")
    cols = st.columns(2)
    for i, bar in enumerate(bars):
        if not any((s.get(bar) or {}).get("n") for s in stats.values()):
            continue
        scale = 100 if bar.startswith("acc_") or bar in ("class_accuracy", "confident_share") else 1
        title = claims.NAMES.get(bar, bar) + (" (%)" if scale == 100 else "")
        with cols[i % 2]:
            st.plotly_chart(charts.seed_bar_figure(stats, rows, bar, title, scale),
                            width="stretch", key=f"bar_{key}_{bar}")
    pairs = nearest_pairs(name, folder)
    if pairs:
        st.markdown("**Samples beside their nearest training image.** A copy would look the "
                    "same as the image below it, at a distance near 0.")
        for pair in pairs:
            st.image(pair["png"], caption=pair["caption"])
    with st.expander("Every run (one row per seed)"):
        st.dataframe(rows, width="stretch", hide_index=True)


shipped = load_shipped(name)
st.subheader("Results shipped with the lab")
if shipped is None:
    st.info("No results are shipped for this experiment yet. Run it with "
            f"`python -m gan_core sweep {name} --out experiments/{name}`.")
else:
    summary, rows, curves = shipped
    st.caption(f"{summary['runs_done']} runs, made with `{summary.get('command', '')}`.")
    show_results(summary, rows, curves, "shipped", None)

st.subheader("Rerun a quick version here")
quick_runs = claims.plan(name, quick=True)
st.caption(f"{len(quick_runs)} runs of {quick_runs[0].config['max_steps']} steps on a few hundred "
           "digits, one after another on this server. Too short to judge anything: it checks "
           "that the sweep runs; the shipped results above give the answer.")
job: SweepJob | None = st.session_state.get(f"sweep_{name}")
data_dir = find_data_dir()
if not mnist_available(data_dir):
    st.info("MNIST was not found (in $GAN_DATA_DIR, ./data or ../shared/data), so the quick "
            "version cannot run here. Put the MNIST IDX files in one of them.")
elif job is None or not job.alive:
    if st.button("Run the quick version", icon=":material/play_arrow:", key="run_quick"):
        out = Path(tempfile.mkdtemp(prefix=f"gan-lab-{name}-"))
        try:        # one training and one waiting per browser, quick reruns included
            job = SweepJob(name, out, pool=get_pool(), owner=owner_key(),
                           budget=limits.run_budget(),
                           data_dir=str(data_dir)).start()
        except ValueError as e:
            st.error(str(e), icon=":material/block:")
        else:
            st.session_state[f"sweep_{name}"] = job
            st.rerun()


@st.fragment(run_every=1.5)
def live(job: SweepJob) -> None:
    if job.alive:
        if st.button("Stop", icon=":material/stop:", key="stop_quick"):
            job.stop()
        total = max(job.total, 1)
        st.progress(min(job.done / total, 1.0), text=f"{job.done} of {job.total or '?'} runs: "
                                                     f"{safe.text(job.message)}")
        return
    if job.state == "failed":
        st.error(f"The quick version stopped: {safe.text(job.error)}")
    elif job.summary is not None and job.summary["runs_done"]:
        show_results(*load_results_dir(name, Path(job.out)), "quick", Path(job.out))
    else:
        st.info("Stopped before any run finished.")


if job is not None:
    live(job)

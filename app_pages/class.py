"""Class: the teacher's view of every run on the server (with the teacher key)."""
import streamlit as st

from gan_core.jobs import FINAL
from lab_app import inside, safe
from lab_app.lessons import LESSONS
from lab_app.pages import page
from lab_app.ui import get_classroom

st.title("Class")
room = get_classroom()

if not st.session_state.get("teacher"):
    st.caption("For the teacher: the key is GAN_LAB_TEACHER_KEY, or the one the server printed "
               "on its console when it started.")
    with st.form("teacher_key"):
        typed = st.text_input("Teacher key", type="password")
        if st.form_submit_button("Open the class"):
            ok, wait = room.check_key(typed)
            if ok:
                st.session_state.teacher = True
                st.rerun()
            st.error(f"That is not the key. Try again in {wait:.0f} s.")
    st.stop()

# --- send a lesson to everyone -----------------------------------------------------------------
with st.expander("Send a lesson to the class", icon=":material/campaign:"):
    keys = list(LESSONS)
    key = st.selectbox("Lesson", keys, format_func=lambda k: LESSONS[k].title, key="cls_lesson")
    note = st.text_input("A line for the students", value=f"Let's all try: {LESSONS[key].title}",
                         max_chars=200, key="cls_note")
    c1, c2 = st.columns(2)
    if c1.button("Send to every student", type="primary", key="cls_send"):
        room.send(note, LESSONS[key].page, LESSONS[key].params)
        st.toast("Sent: every student's page shows it within a few seconds.")
    if room.banner and c2.button("Take the banner down", key="cls_clear"):
        room.clear_banner()
    if room.banner:
        st.caption(f"Showing now: {safe.text(room.banner.text)}")

c1, c2 = st.columns([3, 1])
c2.download_button("The class's results (zip)", room.results_zip, "class_results.zip",
                   "application/zip", key="cls_zip",
                   help="Per run: settings, final numbers, history, last samples, report")


def _grid(row, width=None):
    snap = row["snapshot"]
    if snap is None:
        st.caption("No samples yet.")
        return
    st.image(room.grid_png(row["view"], snap), caption=f"step {snap.step}",
             width=width or "stretch", output_format="PNG")     # encoded once per snapshot


def _num(v):
    return f"{v:.2f}" if isinstance(v, (int, float)) else "-"


MAX_SHOWN = 40      # rows drawn at once (every 3 s); the zip holds every run


def _row_id(row) -> str:
    """A run's side, stable while new runs arrive above it (rows are newest first)."""
    return f"{row['entry'].run.job.id}:{row['side']}"


@st.fragment(run_every=3.0)
def the_class() -> None:
    rows = room.rows(judge_for=inside.judge_for, real_diversity_for=inside.real_diversity)
    if not rows:
        st.info(f"No runs yet. Students start them on the {page('train').title} or "
                f"{page('compare').title} page.")
        return
    by_id = {_row_id(r): r for r in rows}
    chosen = st.multiselect("Side by side for the projector (two runs)", list(by_id),
                            format_func=lambda k: f"{by_id[k]['student']}: {by_id[k]['label']} "
                                                  f"({by_id[k]['state']})",
                            max_selections=2, key="cls_pair")
    chosen = [k for k in chosen if k in by_id]
    if len(chosen) == 2:
        cols = st.columns(2)
        for col, k in zip(cols, chosen):
            with col:
                st.subheader(safe.text(by_id[k]["student"]))
                st.caption(safe.text(by_id[k]["label"]))
                _grid(by_id[k])
    which = st.segmented_control("Show", ["Every run", "In progress", "Ended"],
                                 default="Every run", key="cls_which")
    if which == "In progress":
        shown = [r for r in rows if r["state"] in ("running", "queued", "paused")]
    elif which == "Ended":
        shown = [r for r in rows if r["state"] not in ("running", "queued", "paused")]
    else:
        shown = rows
    more = f"; the newest {MAX_SHOWN} shown" if len(shown) > MAX_SHOWN else ""
    st.caption(f"{len(rows)} run(s) on this server, newest first{more}.")
    for r in shown[:MAX_SHOWN]:
        with st.container(border=True):
            left, right = st.columns([1, 3])
            with left:
                _grid(r, width=180)
            with right:
                state = r["state"] + (f", position {r['position']}" if r["position"] else "")
                st.markdown(f"**{safe.text(r['student'])}**: {safe.text(r['label'])} · {safe.text(state)} · "
                            f"step {r['step']}/{r['total']}")
                q = ", ".join(f"{k[2:]} {_num(v)}" for k, v in r["quality"].items())
                st.caption(f"D(x) {_num(r['d_real'])} · D(G(z)) {_num(r['d_fake'])}"
                           + (f" · {safe.text(q)}" if q else ""))
                lesson = r["entry"].lesson
                st.caption(("Lesson: " + safe.text(lesson) + ". " if lesson else "")
                           + ("Changed: " + safe.text("; ".join(r["differs"])) if r["differs"]
                              else "Set-up as given."))
                for text in r["events"][-3:]:
                    st.caption(f":material/visibility: {safe.text(text)}")
                job = r["entry"].run.job
                if r["side"] == 0 and job.alive and r["state"] not in FINAL:
                    b1, b2, b3 = st.columns(3)       # keys by job: rows move as runs arrive
                    if b1.button("Pause", key=f"cls_p{job.id}"):
                        job.pause()
                    if b2.button("Resume", key=f"cls_r{job.id}"):
                        job.resume()
                    if b3.button("Stop", key=f"cls_s{job.id}"):
                        job.stop()


the_class()

"""The app's job path against the command line, on the same settings, side by side.

    cli        `python -m gan_core train` in its own process (the engine alone)
    app x1     one student: a Job from gan_core.jobs, trained in a worker process
    app x2     two students at once: two Jobs in one JobPool, each worker given half the cores
    pair       Compare's "Train both": one Job with two models in lockstep (FLGAN's focal loss
               with clipping and the DCGAN loss), one worker with every core

Rounds alternate cli, app x1, app x2, so all three see the same machine. Steps/s are counted on
each trainer's own clock (`time_s` of its history records, after a warm-up), the same clock for
both paths; the app's rows also give wall-clock steps/s as the page sees them (steps the job
reported per second of real time, IPC included). Finally, while two jobs train, the Train page
is rerun in Streamlit's AppTest and timed, both the whole page and, inside it, the body of the
live fragment (`live_view`), which is what the fragment's own rerun every 2.5 s
(LIVE_REFRESH_S) runs.
"""
from __future__ import annotations

import csv
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 10          # steps left out of every rate (first steps pay for allocations);
                     # measure() sets it


def _rate(history: list[dict]) -> float:
    """Steps per training second after the warm-up, from the records' own clock."""
    rows = [r for r in history if int(r["step"]) > WARMUP]
    if len(rows) < 2:
        return float("nan")
    t0, t1 = float(rows[0]["time_s"]), float(rows[-1]["time_s"])
    return (len(rows) - 1) / (t1 - t0) if t1 > t0 else float("nan")


def cli_rate(settings: dict, seconds: float, data_dir: str) -> dict:
    """The command line's steps/s, with every core, as the app gives a lone student: an
    OMP_NUM_THREADS=1 in the bench's own environment (as on shared machines) must not make
    the command line a one-thread run beside the app's all-core worker."""
    import os

    from gan_core.workers import usable_cores
    threads = usable_cores()
    with tempfile.TemporaryDirectory() as out:
        args = [sys.executable, "-m", "gan_core", "train", "--out", out, "--quiet",
                "--data-dir", data_dir, "--max-seconds", str(seconds), "--no-download"]
        for k, v in settings.items():
            args += [f"--{k.replace('_', '-')}", str(v)]
        subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": str(threads)})
        with open(Path(out) / "history.csv") as f:
            history = list(csv.DictReader(f))
    return dict(steps_per_s=_rate(history), steps=len(history), threads=threads)


def _timed_window(jobs: list, seconds: float) -> list[dict]:
    """Let started `jobs` pass the warm-up, count every trainer's steps over `seconds`, then
    stop them: one row per trainer, steps/s on its own clock and on the wall clock."""
    sides = [(j, v) for j in jobs for v in j.trainers]
    try:
        deadline = time.time() + 120
        while any(v.step < WARMUP for _, v in sides) and time.time() < deadline:
            time.sleep(0.05)
        s0, t0 = [v.step for _, v in sides], time.perf_counter()
        time.sleep(seconds)
        s1, t1 = [v.step for _, v in sides], time.perf_counter()
    finally:
        for j in jobs:
            j.stop()
        for j in jobs:
            j.join(60)
    return [dict(steps_per_s=_rate(v.history), wall_steps_per_s=(b - a) / (t1 - t0),
                 threads=j.threads) for (j, v), a, b in zip(sides, s0, s1)]


def app_rates(config, seconds: float, students: int) -> list[dict]:
    from gan_core.jobs import Job, JobPool
    pool = JobPool(max_running=max(2, students))
    return _timed_window([Job(config.with_updates(seed=i), pool).start()
                          for i in range(students)], seconds)


def pair_rates(config, seconds: float) -> list[dict]:
    """Compare's "Train both": one job, the focal loss with clipping beside the DCGAN loss."""
    from gan_core.jobs import Job, JobPool
    sides = [config.with_updates(loss="focal", grad_clip=0.25),
             config.with_updates(loss="nonsaturating", grad_clip=None)]
    return _timed_window([Job(sides, JobPool(max_running=2)).start()], seconds)


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


@contextmanager
def timed_fragments(times: list[float], cpu: list[float]):
    """Time the body of every fragment a page defines with `st.fragment(fn, ...)`: the code a
    live fragment's rerun runs on the server. Wall ms into `times`, and the CPU ms of the
    thread that ran it into `cpu` (what it needs; the wall time also holds waiting for a core
    while the workers train)."""
    import streamlit as st
    real = st.fragment

    def fragment(fn=None, **kw):
        if fn is None:
            return lambda f: fragment(f, **kw)

        @functools.wraps(fn)
        def body(*args, **kwargs):
            t, c = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.thread_time() - c) * 1000)
        return real(body, **kw)

    st.fragment = fragment
    try:
        yield
    finally:
        st.fragment = real


def page_rerun_ms(config, repeats: int, data_dir: str) -> dict:
    """While two jobs train (this student's, started from the Train page, and another's):
    the Train page rerun in AppTest (the whole page), and inside it the live fragment's own
    body, which is what its timed rerun every LIVE_REFRESH_S runs on the server. Median, p90,
    max."""
    import os
    os.environ.setdefault("GAN_DATA_DIR", data_dir)
    import streamlit as st
    from streamlit.testing.v1 import AppTest
    from gan_core.jobs import Job
    from lab_app.ui import LIVE_REFRESH_S, get_pool
    st.cache_resource.clear()
    fragment_ms: list[float] = []
    fragment_cpu_ms: list[float] = []
    with timed_fragments(fragment_ms, fragment_cpu_ms):
        at = AppTest.from_file(str(ROOT / "app_pages" / "train.py"), default_timeout=120)
        for k, v in dict(dataset=config.dataset, model=config.model, epochs=50,
                         batch_size=config.batch_size).items():
            at.query_params[k] = str(v)
        at.run()
        [b for b in at.button if b.label == "Start training"][0].click().run()
        mine = at.session_state["runs"][-1].job
        other = Job(config.with_updates(seed=1), get_pool()).start()     # another student
        try:
            deadline = time.time() + 120
            while (mine.trainer.step < WARMUP or other.trainer.step < WARMUP) and \
                    time.time() < deadline:
                time.sleep(0.05)
            times = []
            del fragment_ms[:], fragment_cpu_ms[:]
            for _ in range(repeats):
                t = time.perf_counter()
                at.run()
                times.append((time.perf_counter() - t) * 1000)
                time.sleep(LIVE_REFRESH_S)       # the fragment's own interval
            assert not at.exception, at.exception
            steps = (mine.trainer.step, other.trainer.step)
            both = mine.alive and other.alive
        finally:
            mine.stop(), other.stop()
            mine.join(60), other.join(60)
            st.cache_resource.clear()
    assert both, "a job ended before the reruns were timed"
    return dict(median_ms=statistics.median(times), p90_ms=_percentile(times, 0.9),
                max_ms=max(times), repeats=repeats, steps_when_done=steps,
                fragment_median_ms=statistics.median(fragment_ms),
                fragment_p90_ms=_percentile(fragment_ms, 0.9), fragment_max_ms=max(fragment_ms),
                fragment_cpu_median_ms=statistics.median(fragment_cpu_ms),
                fragment_cpu_p90_ms=_percentile(fragment_cpu_ms, 0.9),
                fragment_cpu_max_ms=max(fragment_cpu_ms),
                fragment_runs=len(fragment_ms), every_s=LIVE_REFRESH_S, load=os.getloadavg())


def make_config(data_dir: str, model: str = "classroom", preset: str = "dcgan"):
    from gan_core.config import preset as make_preset
    return make_preset(preset, dataset="mnist", model=model, epochs=1000, data_dir=data_dir,
                       download=False, device="cpu")


def measure_page(data_dir: str, repeats: int = 20, warmup: int = 10) -> dict:
    """Only the page and fragment rerun times (`--app page`)."""
    global WARMUP
    WARMUP = warmup
    return page_rerun_ms(make_config(data_dir), repeats, data_dir)


def measure(data_dir: str, seconds: float = 30.0, rounds: int = 2, repeats: int = 10,
            model: str = "classroom", preset: str = "dcgan", warmup: int = 10) -> dict:
    """The whole comparison; prints progress to stderr."""
    global WARMUP
    WARMUP = warmup
    settings = dict(dataset="mnist", model=model, preset=preset, epochs=1000)
    config = make_config(data_dir, model, preset)
    rows = dict(cli=[], app1=[], app2=[], pair=[])
    for r in range(rounds):
        print(f"app vs cli: round {r + 1}/{rounds} ({seconds:g} s each)", file=sys.stderr)
        rows["cli"].append(cli_rate(settings, seconds, data_dir))
        rows["app1"].append(app_rates(config, seconds, 1)[0])
        rows["app2"].extend(app_rates(config, seconds, 2))
        rows["pair"].extend(pair_rates(config, seconds))
    def med(key: str, k: str = "steps_per_s") -> float:
        return statistics.median(x[k] for x in rows[key])
    cli = med("cli")
    print("app vs cli: page reruns while two jobs train", file=sys.stderr)
    page = page_rerun_ms(config, repeats, data_dir)
    return dict(model=model, preset=preset, seconds=seconds, rounds=rounds,
                cli_steps_per_s=cli, app1_steps_per_s=med("app1"),
                app1_wall_steps_per_s=med("app1", "wall_steps_per_s"),
                app2_steps_per_s_each=med("app2"),
                app2_wall_steps_per_s_each=med("app2", "wall_steps_per_s"),
                pair_steps_per_s_each=med("pair"),
                pair_wall_steps_per_s_each=med("pair", "wall_steps_per_s"),
                app1_ratio=med("app1") / cli, app2_ratio_each=med("app2") / cli,
                pair_ratio_each=med("pair") / cli,
                app1_threads=rows["app1"][0]["threads"], app2_threads=rows["app2"][0]["threads"],
                pair_threads=rows["pair"][0]["threads"],
                runs=rows, page_rerun=page)


def table(a: dict) -> str:
    def f(x: float, d: int = 1) -> str:
        return f"{x:,.{d}f}"
    return "\n".join([
        f"App job path vs the command line ({a['model']}, {a['preset']}, MNIST; median of "
        f"{a['rounds']} alternating rounds of {a['seconds']:g} s; steps/s on the trainers' clock, "
        "wall clock in brackets):", "",
        "| path | students at once | torch threads each | steps/s each | vs command line |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| command line | 1 | all | {f(a['cli_steps_per_s'])} | 1.00x |",
        f"| in the app | 1 | {a['app1_threads']} | {f(a['app1_steps_per_s'])} "
        f"({f(a['app1_wall_steps_per_s'])}) | {a['app1_ratio']:.2f}x |",
        f"| in the app | 2 | {a['app2_threads']} | {f(a['app2_steps_per_s_each'])} "
        f"({f(a['app2_wall_steps_per_s_each'])}) | {a['app2_ratio_each']:.2f}x |",
        f"| Compare's Train both (2 models, 1 job) | 1 | {a['pair_threads']} in all | "
        f"{f(a['pair_steps_per_s_each'])} ({f(a['pair_wall_steps_per_s_each'])}) | "
        f"{a['pair_ratio_each']:.2f}x |", "",
        page_table(a["page_rerun"])])


def page_table(p: dict) -> str:
    return "\n".join([
        f"Train page on the server while two jobs train ({p['repeats']} reruns in AppTest, "
        f"{p['every_s']:g} s apart; load average {p['load'][0]:.1f}):", "",
        "| what reruns | median ms | p90 ms | max ms |", "| --- | ---: | ---: | ---: |",
        f"| the live fragment (its body) | {p['fragment_median_ms']:,.0f} | "
        f"{p['fragment_p90_ms']:,.0f} | {p['fragment_max_ms']:,.0f} |",
        f"| the live fragment, CPU time of its thread | {p['fragment_cpu_median_ms']:,.0f} | "
        f"{p['fragment_cpu_p90_ms']:,.0f} | {p['fragment_cpu_max_ms']:,.0f} |",
        f"| the whole page | {p['median_ms']:,.0f} | {p['p90_ms']:,.0f} | {p['max_ms']:,.0f} |"])

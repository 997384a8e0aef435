"""Which recipe gets the shipped MNIST generators closest to real digits, over long runs.

    python scripts/recipe_probe.py JOB LOSS       # JOB in JOBS below, LOSS flgan or dcgan

One run per call (start several at once on a GPU machine); each evaluation (the one evaluator,
1,000 samples, seed 0) is appended as a JSON line to $OUT/explore.jsonl, and the last one's
samples are saved as $OUT/grid_JOB_LOSS.png. Data: $GAN_DATA_DIR (default ../shared/data).
docs/shipped-models.md quotes one run of each on an H100 (8 at once).
"""
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch  # noqa: E402
torch.set_num_threads(1)
from gan_core.checkpoint import save_checkpoint, load_checkpoint  # noqa: E402
from gan_core.config import preset  # noqa: E402
from gan_core.metrics import evaluate_generator, load_judge  # noqa: E402
from gan_core.trainer import Trainer  # noqa: E402

OUT = Path(os.environ.get("OUT", "runs/recipe-probe"))
DATA = os.environ.get("GAN_DATA_DIR", "../shared/data")
JOBS = {
    # name: what the run changes on the preset (model, depth, learning rates)
    "cls_med": dict(model="classroom"),
    "cls_large": dict(model="classroom", depth="large"),
    "cls_med_lr2e4": dict(model="classroom", lr_g=2e-4, lr_d=2e-4),
    "paper": dict(model="paper"),
}
EVAL = (3752, 7504, 15000, 22500, 30000)


def main(job, loss):
    kw = JOBS[job]
    cfg = preset(loss, **kw, dataset="mnist", data_dir=DATA, download=False, seed=0,
                 epochs=10_000, sample_every=100_000, max_steps=max(EVAL))
    OUT.mkdir(parents=True, exist_ok=True)
    tr = Trainer(cfg)
    judge = load_judge("mnist")
    tmp = OUT / f"{job}_{loss}.pt"            # the evaluated file, as shipped files are saved
    t0 = time.perf_counter()

    def cb(t, rec):
        if t.step in EVAL:
            save_checkpoint(t, tmp, generator_only=True, half=True, with_history=False)
            G = load_checkpoint(tmp, with_discriminator=False).G
            m = evaluate_generator(G, "mnist", data_dir=DATA, judge=judge)
            line = dict(job=job, loss=loss, step=t.step, wall=round(time.perf_counter() - t0, 1),
                        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()})
            print(json.dumps(line), flush=True)
            with open(OUT / "explore.jsonl", "a") as f:
                f.write(json.dumps(line) + "\n")
            if t.step == max(EVAL):
                from torchvision.utils import save_image
                from gan_core.sampling import sample
                x = sample(G, 64, 0)
                save_image(x, OUT / f"grid_{job}_{loss}.png", nrow=8, normalize=True,
                           value_range=(-1, 1))
    tr.add_callback("step", cb)
    tr.run()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

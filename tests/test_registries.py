"""One registry per kind: a loss with a parameter and a 2-D dataset, each added as ARCHITECTURE.md
says (one entry in gan_core/losses.py, one in gan_core/datasets.py, nothing else), appear
everywhere a student or a teacher picks one.

The test copies the code to a temporary folder, appends a made-up loss `smooth-margin` (raw
scores, one parameter: gamma, read from the `focal_gamma` field) to `LOSSES` and a made-up 2-D
set `spiral` to `DATASETS`, and checks the copy in a fresh interpreter: the command line lists
and trains them, the Train page offers both and enables gamma's slider for the new loss, the
Loss lab shows its formulas, and the step-by-step view runs a D and a G step with them and
writes the loss's own formula with its numbers.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

LOSS = r'''

def _smooth_margin_d_terms(real_logits, fake_logits, real_target=1.0, gamma=2.0):
    return F.softplus(gamma - real_logits), F.softplus(gamma + fake_logits)


def _smooth_margin_g_terms(fake_logits, gamma=2.0):
    return F.softplus(gamma - fake_logits)


LOSSES["smooth-margin"] = LossSpec(
    name="smooth-margin", title="Smooth margin (made up)", raw_scores=True, uses_targets=False,
    d_terms=_smooth_margin_d_terms, g_terms=_smooth_margin_g_terms, params=(GAMMA,),
    latex_d=r"\min_D\; \mathbb{E}_x[\log(1 + e^{\gamma - D(x)})] + \mathbb{E}_z[\log(1 + e^{\gamma + D(G(z))})]",
    latex_g=r"\min_G\; \mathbb{E}_z[\log(1 + e^{\gamma - D(G(z))})]",
    mean_d=(r"\overline{\log(1 + e^{\gamma - D(x)})}", r"\overline{\log(1 + e^{\gamma + D(G(z))})}"),
    mean_g=r"\overline{\log(1 + e^{\gamma - D(G(z))})}",
    summary="A made-up loss: hinge with soft corners at a margin gamma.",
    explanation="A made-up loss for a test of the registry.")
'''

DATASET = r'''

def _spiral_modes():
    t = torch.linspace(0.5, 3 * torch.pi, 10)
    return torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / 3


DATASETS["spiral"] = DatasetInfo("spiral", "points", "10 Gaussians along a spiral",
                                 "drawn; no files", _toy, channels=0, modes=_spiral_modes)
'''

CHECK = r"""
import json, subprocess, sys
from streamlit.testing.v1 import AppTest
from gan_core.config import TrainConfig
from gan_core.stepper import Stepper

out = {}
out["help"] = subprocess.run([sys.executable, "-m", "gan_core", "train", "--help"],
                             capture_output=True, text=True).stdout
run = subprocess.run([sys.executable, "-m", "gan_core", "train", "--dataset", "spiral", "--loss",
                      "smooth-margin", "--gamma", "1.5", "--max-steps", "5", "--out", "cli_run",
                      "--device", "cpu"], capture_output=True, text=True)
out["cli_rc"], out["cli_err"] = run.returncode, run.stderr[-2000:]

at = AppTest.from_file("app_pages/train.py", default_timeout=120)
at.query_params.update({"dataset": "spiral", "loss": "smooth-margin", "gamma": "1.5"})
at.run()
out["train_exc"] = [str(e.value) for e in at.exception]
out["train_losses"] = list(at.selectbox(key="t_loss").options)
out["train_datasets"] = list(at.selectbox(key="t_dataset").options)
out["train_loss"] = at.selectbox(key="t_loss").value
gamma = at.slider(key="t_focal_gamma")
out["gamma"] = [gamma.value, gamma.disabled]

at = AppTest.from_file("app_pages/train.py", default_timeout=120)
at.query_params.update({"dataset": "spiral", "loss": "smooth-margin", "gamma": "1.5",
                        "view": "step"})
at.run()
at.button(key="sbs_d").click().run()
at.button(key="sbs_g").click().run()
out["step_exc"] = [str(e.value) for e in at.exception]
out["step_latex"] = [m.value for m in at.latex]

s = Stepper(TrainConfig(dataset="spiral", model="mlp", latent_dim=2, loss="smooth-margin",
                        focal_gamma=1.5, device="cpu"))
d, g = s.d_step(), s.g_step()
out["stepper"] = [d.latex, g.latex, d.numbers["loss_before"], g.numbers["loss_before"]]

at = AppTest.from_file("app_pages/loss_lab.py", default_timeout=120)
at.run()
out["lab_exc"] = [str(e.value) for e in at.exception]
out["lab_text"] = " ".join([h.value for h in at.subheader] + [m.value for m in at.latex])
print("RESULT " + json.dumps(out))
"""


def test_a_made_up_loss_and_dataset_appear_everywhere_from_their_one_definition(tmp_path):
    for name in ("gan_core", "lab_app", "app_pages", "pretrained"):
        shutil.copytree(REPO / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for path, addition in (("gan_core/losses.py", LOSS), ("gan_core/datasets.py", DATASET)):
        target = tmp_path / path
        target.write_text(target.read_text() + addition)
    env = dict(os.environ, PYTHONPATH=str(tmp_path), GAN_LAB_RUNS_DIR=str(tmp_path / "runs"),
               GAN_LAB_UPLOAD_DIR=str(tmp_path / "uploads"), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHECK], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    r = json.loads(lines[-1][len("RESULT "):])

    help_text = " ".join(r["help"].split())
    assert "smooth-margin" in help_text and "spiral" in help_text           # the command line
    assert r["cli_rc"] == 0, r["cli_err"]
    assert (tmp_path / "cli_run" / "checkpoint.pt").exists()

    assert r["train_exc"] == []                                              # the Train page
    assert "Smooth margin (made up)" in r["train_losses"]         # options show loss titles
    assert any(x.startswith("spiral") for x in r["train_datasets"]), r["train_datasets"]
    assert r["train_loss"] == "smooth-margin"
    assert r["gamma"] == [1.5, False]            # its parameter's widget, switched on

    assert r["step_exc"] == []                                               # step by step
    d_latex, g_latex, d_value, g_value = r["stepper"]
    assert r"\log(1 + e^{1.5 - D(x)})" in d_latex and f"{d_value:.3f}" in d_latex
    assert r"\log(1 + e^{1.5 - D(G(z))})" in g_latex and f"{g_value:.3f}" in g_latex
    assert any("e^{1.5" in x for x in r["step_latex"]), r["step_latex"]

    assert r["lab_exc"] == []                                                # the Loss lab
    assert "Smooth margin (made up)" in r["lab_text"]
    assert r"e^{\gamma - D(G(z))}" in r["lab_text"]

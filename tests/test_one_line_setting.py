"""Adding a setting is one line in gan_core/config.py (the engine: name, range, meaning, flag,
link key), and one line in lab_app/controls.py for its widget on the Train page: it appears on
the command line, in links and on the Train page.

The test copies the code to a temporary folder, adds a made-up field `tilt` to TrainConfig with
one `setting(...)` line and one `Control(...)` line, and checks the copy in a fresh interpreter:
`train --help` lists --tilt, a link's tilt survives the URL round trip, and the Train page draws
its widget (AppTest) whose value goes back into the link.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINE = '    tilt: float = setting(0.0, "a made-up setting", lo=0, hi=1, url="tilt")\n'
CONTROL = '    "tilt": Control("slider", "Tilt", step=0.1),\n'


CHECK = r"""
import json, subprocess, sys
from streamlit.testing.v1 import AppTest
from gan_core.cli import build_parser, config_from_args
from gan_core.config import TrainConfig
from lab_app.settings import config_from_params, params_from_config

out = {}
out["help"] = subprocess.run([sys.executable, "-m", "gan_core", "train", "--help"],
                             capture_output=True, text=True).stdout
a = build_parser().parse_args(["train", "--dataset", "ring", "--out", "x", "--tilt", "0.3"])
out["cli_value"] = config_from_args(a).tilt
try:
    TrainConfig(tilt=2.0).validate()
except ValueError as e:
    out["refused"] = str(e)
cfg, errors = config_from_params({"dataset": "ring", "tilt": "0.5"})
out["url_value"], out["url_errors"] = cfg.tilt, errors
out["url_back"] = params_from_config(cfg).get("tilt")
at = AppTest.from_file("app_pages/train.py", default_timeout=60)
at.query_params["dataset"] = "ring"
at.query_params["tilt"] = "0.4"
at.run()
out["page_exception"] = [str(e.value) for e in at.exception]
w = at.slider(key="t_tilt")
out["widget"] = [w.label, w.value, w.min, w.max]
w.set_value(0.7).run()
out["page_link"] = at.query_params.get("tilt")
print("RESULT " + json.dumps(out))
"""


def test_a_made_up_setting_appears_in_the_cli_the_url_and_the_train_page(tmp_path):
    for name in ("gan_core", "lab_app", "app_pages"):
        shutil.copytree(REPO / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    config = tmp_path / "gan_core" / "config.py"
    text = config.read_text()
    anchor = "    # run\n"
    assert text.count(anchor) == 1
    config.write_text(text.replace(anchor, LINE + anchor))
    controls = tmp_path / "lab_app" / "controls.py"
    text = controls.read_text()
    anchor = '    "seed": Control('
    assert text.count(anchor) == 1
    controls.write_text(text.replace(anchor, CONTROL + anchor))
    env = dict(os.environ, PYTHONPATH=str(tmp_path), GAN_LAB_RUNS_DIR=str(tmp_path / "runs"),
               GAN_LAB_UPLOAD_DIR=str(tmp_path / "uploads"), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHECK], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    r = json.loads(lines[-1][len("RESULT "):])
    assert "--tilt" in r["help"] and "a made-up setting" in r["help"]
    assert r["cli_value"] == 0.3
    assert r["refused"].startswith("tilt must be a number from 0 to 1")
    assert r["url_value"] == 0.5 and r["url_errors"] == {} and r["url_back"] == "0.5"
    assert r["page_exception"] == []
    assert r["widget"] == ["Tilt", 0.4, 0.0, 1.0]
    assert r["page_link"] == "0.7"

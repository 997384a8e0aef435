"""gan_core is UI-free: the CLI and the app both use it, so it must never import Streamlit."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import gan_core

PACKAGE_DIR = Path(gan_core.__file__).resolve().parent

PROBE = r"""
import importlib, json, pkgutil, sys
import gan_core
names = []
for m in pkgutil.walk_packages(gan_core.__path__, "gan_core."):
    if m.name == "gan_core.__main__":        # importing it would run the CLI
        continue
    importlib.import_module(m.name)
    names.append(m.name)
print(json.dumps({"modules": names,
                  "ui": sorted(k for k in sys.modules
                               if k.split(".")[0] in ("streamlit", "plotly", "altair"))}))
"""


def test_importing_every_module_loads_no_streamlit():
    """In a fresh interpreter, importing gan_core and all its submodules leaves streamlit
    (and the app's chart libraries) out of sys.modules."""
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=PACKAGE_DIR.parent,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = {f"gan_core.{p.stem}" for p in PACKAGE_DIR.glob("*.py")
                if p.stem not in ("__init__", "__main__")}
    assert expected <= set(result["modules"])
    assert "gan_core.trainer" in result["modules"] and "gan_core.cli" in result["modules"]
    assert result["ui"] == []


def test_sources_do_not_mention_streamlit_imports():
    """No source file of gan_core imports streamlit."""
    pattern = re.compile(r"^\s*(import|from)\s+streamlit\b|import_module\(\s*['\"]streamlit",
                         re.MULTILINE)
    files = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(files) >= 10
    offenders = [str(p) for p in files if pattern.search(p.read_text())]
    assert offenders == []

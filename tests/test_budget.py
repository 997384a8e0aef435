"""gan_core.budget's parameter count: what a run's size check on the server costs and counts."""
import subprocess
import sys

import pytest

from gan_core.budget import parameter_count
from gan_core.models import ModelSpec, build_models, count_parameters

SPECS = [ModelSpec(), ModelSpec(model="paper"), ModelSpec(clusters=50), ModelSpec(num_classes=10),
         ModelSpec(model="wide", depth="large", latent_dim=1000),
         ModelSpec(model="dcgan64", self_attention=True, spectral_norm_g=True,
                   spectral_norm_d=True)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.model}-{s.depth}-{s.latent_dim}")
def test_the_count_on_the_meta_device_is_the_real_models_count(spec):
    G, D = build_models(spec)
    assert parameter_count(spec) == count_parameters(G) + count_parameters(D)


def test_counting_the_default_models_does_not_import_torch_dynamo():
    """On the meta device torch fills a weight with normal_ through a reference that imports
    torch._dynamo (1.3 CPU s): the server paid it on its first Start, before the worker was
    asked. The count skips the initialisers."""
    code = ("import sys; from gan_core.budget import parameter_count; "
            "from gan_core.models import ModelSpec; "
            "n = [parameter_count(ModelSpec(**k)) for k in "
            "({}, {'model': 'paper'}, {'clusters': 50}, {'num_classes': 10})]; "
            "print('torch._dynamo' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"

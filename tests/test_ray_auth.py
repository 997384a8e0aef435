"""The lab uses a Ray cluster only with token authentication on (issue 30): an unauthenticated
cluster runs any code anyone who reaches it submits. Decided without a cluster: a fake `ray`
module stands in for Ray's client, so these run where Ray is not installed too."""
from __future__ import annotations

import sys
import types

import pytest

from gan_core.workers import ray_backend
from gan_core.workers.ray_backend import ALLOW_UNAUTHENTICATED, auth_refusal, ensure_ray

REMOTE = {"GAN_LAB_RAY_ADDRESS": "gpu-box:6379"}


def test_a_remote_cluster_needs_ray_auth_mode_token():
    why = auth_refusal(None, REMOTE)
    assert why and "gpu-box:6379" in why and "\n" not in why
    for what in ("RAY_AUTH_MODE=token", "ray get-auth-token --generate", "RAY_AUTH_TOKEN",
                 "--dashboard-host 127.0.0.1", "6379", "8265", "10001", "docs/deployment.md",
                 ALLOW_UNAUTHENTICATED):
        assert what in why, what
    assert auth_refusal(None, {**REMOTE, "RAY_AUTH_MODE": "token"}) is None
    assert auth_refusal("other:6379", {"RAY_AUTH_MODE": "disabled"})
    assert auth_refusal(None, {"RAY_ADDRESS": "gpu-box:6379"})     # Ray's own variable too


def test_a_local_cluster_is_allowed_only_as_ray_starts_it_with_auth():
    assert auth_refusal(None, {}) is None                    # Ray 2.60 turns token auth on
    assert auth_refusal(None, {"RAY_AUTH_MODE": "disabled"})
    # after connecting, Ray's own answer decides (a Ray that did not turn it on is refused)
    assert auth_refusal(None, {}, token_auth_on=False)
    assert auth_refusal(None, {"RAY_AUTH_MODE": "token"}, token_auth_on=True) is None


def test_the_explicit_opt_out_connects_anyway():
    env = {**REMOTE, "RAY_AUTH_MODE": "disabled", ALLOW_UNAUTHENTICATED: "1"}
    assert auth_refusal(None, env) is None
    assert auth_refusal(None, env, token_auth_on=False) is None
    assert auth_refusal(None, {**REMOTE, ALLOW_UNAUTHENTICATED: "0"})


class FakeRay(types.ModuleType):
    def __init__(self):
        super().__init__("ray")
        self.calls = []
        self.up = False

    def is_initialized(self):
        return self.up

    def init(self, **kw):
        self.calls.append(("init", kw.get("address")))
        self.up = True

    def shutdown(self):
        self.calls.append(("shutdown", None))
        self.up = False


@pytest.fixture
def fake_ray(monkeypatch):
    fake = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    for name in ("GAN_LAB_RAY_ADDRESS", "RAY_ADDRESS", "RAY_AUTH_MODE", ALLOW_UNAUTHENTICATED):
        monkeypatch.delenv(name, raising=False)
    return fake


def test_ensure_ray_refuses_an_unauthenticated_cluster_before_connecting(fake_ray, monkeypatch):
    monkeypatch.setenv("GAN_LAB_RAY_ADDRESS", "gpu-box:6379")
    with pytest.raises(ValueError, match="refusing to use the Ray cluster at gpu-box:6379"):
        ensure_ray()
    assert fake_ray.calls == []                          # never connected
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setattr(ray_backend, "token_auth_on", lambda ray: True)
    assert ensure_ray() is fake_ray
    assert fake_ray.calls == [("init", "gpu-box:6379")]


def test_ensure_ray_disconnects_where_ray_did_not_turn_auth_on(fake_ray, monkeypatch):
    monkeypatch.setattr(ray_backend, "token_auth_on", lambda ray: False)
    with pytest.raises(ValueError, match="without token authentication"):
        ensure_ray()
    assert fake_ray.calls == [("init", None), ("shutdown", None)]
    monkeypatch.setenv(ALLOW_UNAUTHENTICATED, "1")
    assert ensure_ray() is fake_ray


def test_token_auth_on_is_false_for_a_ray_without_authentication(fake_ray):
    assert ray_backend.token_auth_on(fake_ray) is False    # no ray._private.authentication


def test_requirements_ask_for_a_ray_with_token_authentication():
    from pathlib import Path
    lines = (Path(__file__).resolve().parents[1] / "requirements-ray.txt").read_text()
    reqs = [ln.strip() for ln in lines.splitlines() if ln.strip().startswith("ray")]
    assert reqs == ["ray>=2.52"]

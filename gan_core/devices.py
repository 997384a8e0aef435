"""Which device and precision a run uses, and what to say when it runs out of memory.

Functions that take `config` read a TrainConfig's fields (typed loosely: config imports this
module for its choices)."""
from __future__ import annotations

import platform

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")


def available_devices() -> list[str]:
    """Devices present on this machine, best first, cpu always last."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def bf16_is_native(device: torch.device) -> bool:
    """True where bfloat16 matrix work runs in hardware: CUDA with bf16, or a CPU with AMX or
    AVX512-BF16. Elsewhere autocast emulates it and is slower. On x86 the CPU's own flags are
    asked: oneDNN's `_is_mkldnn_bf16_supported` also says yes for plain AVX512, where the
    classroom model trained at 7.0 steps/s in bf16 against 10-12 in fp32 (2 cores, 2026-12-08).
    Other CPUs (ARM) keep oneDNN's answer."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    x86_flags = [getattr(torch.cpu, name, None)
                 for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    try:
        if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
            return all(x86_flags) and any(bool(f()) for f in x86_flags)
        check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def resolve_precision(config, device: torch.device) -> str:
    """`auto` is bf16 for image models where it is native, else fp32; the 2-D MLP is too small
    to gain and stays fp32. An explicit bf16 is honoured anywhere autocast supports it."""
    if config.precision != "auto":
        return config.precision
    return "bf16" if config.model != "mlp" and bf16_is_native(device) else "fp32"


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; an explicit device that is missing is an error."""
    present = available_devices()
    if name == "auto":
        return torch.device(present[0])
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {name!r}")
    if name not in present:
        raise ValueError(f"device {name!r} is not available on this machine; "
                         f"available: {', '.join(present)}")
    return torch.device(name)


def is_out_of_memory(e: BaseException) -> bool:
    """CUDA's OutOfMemoryError, the host's MemoryError, or MPS's 'out of memory' RuntimeError."""
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(e, (MemoryError, oom)) or (
        isinstance(e, RuntimeError) and "out of memory" in str(e).lower())


def memory_advice(config, device: torch.device) -> str:
    advice = [f"a smaller batch size (now {config.batch_size})"]
    if config.depth != "small":
        advice.append("a smaller generator (depth small)")
    if config.model in ("paper", "dcgan64"):
        advice.append("the classroom model")
    if device.type != "cpu":
        advice.append("the CPU")
    return f"out of memory on {device.type}; try " + ", ".join(advice[:-1]) + \
        (" or " if len(advice) > 1 else "") + advice[-1]

"""Choosing the torch device, with an error that names a device that is not there.

Why: users on a GPU box type cuda:1, on a laptop mps; a device that is not present must be refused clearly,
and `auto` must pick the best one present.
"""

from __future__ import annotations

import torch

from gdtui.engine.config import check_device


class DeviceError(ValueError):
    """The requested device is not available on this machine."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_device(spec: str) -> torch.device:
    """auto | cpu | cuda | cuda:N | mps as a torch.device, or DeviceError naming what is missing."""
    spec = check_device(spec)
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not _mps_available():
            raise DeviceError("device mps is not available on this machine (no Apple Metal backend)")
        return torch.device("mps")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(spec.split(":")[1]) if ":" in spec else 0  # check_device wrote it as a plain integer
    if count == 0:
        raise DeviceError(f"device {spec} is not available: this machine has no CUDA device")
    if index >= count:
        raise DeviceError(
            f"device {spec} is not available: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )
    return torch.device("cuda", index)

"""Choosing the device and the precision."""

import pytest
import torch

from dlm_core.device import autocast, cpu_has_fast_bf16, pick_device, resolve_precision


def test_pick_named_device():
    """A named device that exists is used; an unknown or absent one is a ValueError listing what exists."""
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device 'tpu' is not available here; use one of cpu"):
        pick_device("tpu")


def test_dlm_device_names_the_device(monkeypatch):
    """DLM_DEVICE is honoured when no device is named, and a device it names that is not here is a
    one-line error that says where the name came from; an explicit name wins over it."""
    monkeypatch.setenv("DLM_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    monkeypatch.setenv("DLM_DEVICE", "tpu")
    with pytest.raises(ValueError, match=r"device 'tpu' \(from DLM_DEVICE\) is not available here; use one of cpu"):
        pick_device()
    assert pick_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_absent_cuda_rejected():
    """Asking for CUDA on a machine without it is an error, not a crash later."""
    with pytest.raises(ValueError, match="'cuda' is not available"):
        pick_device("cuda")


def product_dtype(precision):
    a = torch.ones(4, 4)
    with autocast(torch.device("cpu"), precision):
        return (a @ a).dtype


def test_autocast_precisions():
    """fp32 leaves matrix products in float32, bf16 runs them in bfloat16, auto follows the CPU's bf16 support."""
    assert product_dtype("fp32") == torch.float32
    assert product_dtype("bf16") == torch.bfloat16
    assert product_dtype("auto") == (torch.bfloat16 if cpu_has_fast_bf16() else torch.float32)
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        autocast(torch.device("cpu"), "fp8")


def test_autocast_takes_effect_only_inside_its_with_block():
    """Building the context enters nothing: bf16 (and, on the CPU, the attention speed path) is on
    inside the `with` block only, so a stray call cannot leave the rest of a session in bf16."""
    ctx = autocast(torch.device("cpu"), "bf16")
    assert not torch.is_autocast_enabled("cpu")
    with ctx:
        assert torch.is_autocast_enabled("cpu")
    assert not torch.is_autocast_enabled("cpu")
    assert resolve_precision(torch.device("cpu"), "fp32") == "fp32"

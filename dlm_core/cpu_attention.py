"""A speed path for attention under bf16 autocast on the CPU. Not needed to understand the model.

On the CPU under bf16 autocast, PyTorch's fused bf16 attention kernel (its backward above all)
is slower than its fp32 one, while CPUs with bf16 instructions run bf16 matrix products several
times as fast as fp32 ones. So `device.autocast` switches on `CPUAttention`, a `TorchFunctionMode`
(PyTorch's hook for intercepting calls), which reroutes `F.scaled_dot_product_attention`: plain
bidirectional windows of up to `SHORT_WINDOW` characters, whose (T, T) scores are small enough to
store, are written out with bf16 products and an fp32 softmax; anything else runs the fused
kernel in fp32. The maths is the same attention; only the arithmetic's precision and speed change.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

SHORT_WINDOW = 128  # the longest window written out as explicit products


def written_out_attention(q, k, v):
    """softmax(q k^T / sqrt(D)) v as plain operations, the softmax in fp32 for its sums."""
    scores = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5  # (B, H, T, T)
    return torch.softmax(scores.float(), dim=-1).to(v.dtype) @ v  # (B, H, T, D)


def cpu_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, **kwargs):
    """What `CPUAttention` runs instead of the fused bf16 kernel."""
    if q.shape[-2] <= SHORT_WINDOW and attn_mask is None and not is_causal and dropout_p == 0 and not kwargs:
        return written_out_attention(q, k, v)
    with torch.autocast("cpu", enabled=False):
        return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=attn_mask,
                                              dropout_p=dropout_p, is_causal=is_causal, **kwargs)


class CPUAttention(TorchFunctionMode):
    """Inside this context, attention on CPU tensors under autocast goes through `cpu_attention`."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention and args[0].device.type == "cpu" \
                and torch.is_autocast_enabled("cpu"):
            return cpu_attention(*args, **kwargs)
        return func(*args, **kwargs)

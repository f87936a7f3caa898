"""Plumbing for training on several processes with `torchrun` (DDP). A plain run never needs it.

Every process draws the same global batch of windows and the same masks from identically
seeded generators, then trains on its own share of the rows; DDP averages the gradients. So
the processes together compute exactly the single-process gradient, and a run gives the same
weights whatever the number of processes. Only rank 0 evaluates, saves and shows progress.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .masking import corrupt, next_char_per_sequence, weighted_masked_ce


def setup(device: torch.device):
    """Under torchrun, join the process group: gloo on CPU, nccl on CUDA, one GPU per process.
    Returns (rank, world size, device); a plain run is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return dist.get_rank(), world, device


def wrap(model, world: int):
    """The module the training step calls: DDP around the model when there are several processes."""
    return DistributedDataParallel(model) if world > 1 else model


def shard_loss(forward, mcfg, x, generator: torch.Generator, rank: int, world: int, **loss_kwargs):
    """`train.batch_loss` on this process's rows of the global batch `x`. The masks are drawn
    for the whole batch, so every process draws the same numbers as a single process would."""
    rows = slice(rank * len(x) // world, (rank + 1) * len(x) // world)
    if mcfg.causal:
        return next_char_per_sequence(forward, x[rows]).mean()
    xt, masked, weight = corrupt(x, mcfg.mask_id, generator, **loss_kwargs)
    return weighted_masked_ce(forward(xt[rows]), x[rows], masked[rows], weight[rows]).mean()


def agree(elapsed: float, stop: bool, world: int, device) -> tuple[float, bool]:
    """Rank 0's elapsed time and stop decision, shared: with a time budget or patience every
    process must use the same learning rate and stop at the same step (only rank 0 validates)."""
    if world == 1:
        return elapsed, stop
    shared = torch.tensor([elapsed, float(stop)], dtype=torch.float64, device=device)
    dist.broadcast(shared, src=0)
    return shared[0].item(), bool(shared[1].item())


def finish(world: int) -> None:
    """Wait for rank 0's last save, then leave the process group cleanly."""
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()

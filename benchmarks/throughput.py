"""Training throughput: tokens/s and achieved FLOP/s against this machine's matmul peak.

    python benchmarks/throughput.py                 # laptop preset, fp32 and bf16
    python benchmarks/throughput.py --preset small --steps 10

The peak is measured here, in the same process, as the best rate of a large square matrix
product in each precision; "share" is the training step's achieved FLOP/s over that peak.
Training FLOPs are counted by `Denoiser.flops_per_token` (forward + backward). A last table
times one layer's attention, forward + backward, at the 8,192 characters per step of the
25-minute recipe's window schedule, five ways: PyTorch's fused kernel in fp32 and in bf16,
the written-out formula in fp32, and attention under `device.autocast` (bf16), eager and compiled.
On the CPU the fused bf16 kernel is the slow one, so `device.autocast` switches on the speed path
of `cpu_attention.py`, which keeps the fused kernel in fp32 for long windows and writes short
ones out with bf16 products, which is faster there.
"""

import argparse
import time

import torch
import torch.nn.functional as F

from dlm_core.device import autocast, pick_device
from dlm_core.masking import nelbo_per_sequence
from dlm_core.cpu_attention import written_out_attention
from dlm_core.model import Denoiser, preset
from dlm_core.train import TrainConfig, make_optimizers


def matmul_peak(dtype, device, n=1024, seconds=2.0) -> float:
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        for _ in range(5):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 5 * 2 * n ** 3 / (time.perf_counter() - start))
    return best


def attention_ms(way, shape, device, rounds=5, repeats=5) -> float:
    """Milliseconds for one layer's attention, forward + backward, on (B, H, T, D) inputs, in one
    of five ways: PyTorch's fused kernel in fp32 or in bf16, the written-out formula in fp32, or
    attention under `device.autocast` (bf16), eager or compiled (on the CPU it writes short
    windows out with bf16 products). The median over rounds, so that one stall of a shared machine does
    not decide the number."""
    dtype = torch.float32 if way.endswith("fp32") else torch.bfloat16
    q, k, v = (torch.randn(shape, dtype=dtype, device=device, requires_grad=True) for _ in range(3))
    fn = {"fused fp32": F.scaled_dot_product_attention, "fused bf16": F.scaled_dot_product_attention,
          "written out fp32": written_out_attention, "autocast": F.scaled_dot_product_attention,
          "compiled": torch.compile(F.scaled_dot_product_attention, dynamic=False)}[way]

    def run(n):
        for _ in range(n):
            with autocast(device, "bf16" if way in ("autocast", "compiled") else "fp32"):
                y = fn(q, k, v)
            y.float().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()

    run(3)  # warm-up, and compilation for "compiled"
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run(repeats)
        times.append((time.perf_counter() - start) / repeats * 1e3)
    return sorted(times)[rounds // 2]


def train_rate(model, batch_size, steps, precision, device, compile_model) -> tuple[float, float]:
    """Seconds per training step after 3 warm-up steps, and the seconds those 3 took
    (they absorb any compilation)."""
    optimizers = make_optimizers(model, TrainConfig())
    forward = torch.compile(model) if compile_model else model
    gen = torch.Generator().manual_seed(0)
    begin = time.perf_counter()
    x = torch.randint(model.cfg.vocab_size - 1, (batch_size, model.cfg.block_size), generator=gen).to(device)
    for i in range(steps + 3):
        if i == 3:
            start = time.perf_counter()
        with autocast(device, precision):
            loss = nelbo_per_sequence(forward, x, gen).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for opt in optimizers:
            opt.step()
            opt.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps, start - begin


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="laptop")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--device")
    args = p.parse_args()
    device = pick_device(args.device)
    torch.manual_seed(0)
    model = Denoiser(preset(args.preset)).to(device)
    tokens = args.batch_size * model.cfg.block_size
    flops = model.flops_per_token() * tokens
    peaks = {"fp32": matmul_peak(torch.float32, device), "bf16": matmul_peak(torch.bfloat16, device)}
    print(f"device {device}, {torch.get_num_threads()} threads, preset {args.preset} "
          f"({model.num_params():,} parameters), batch {args.batch_size} x {model.cfg.block_size}, "
          f"compile={args.compile}")
    print(f"matmul peak: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s\n")
    print("| precision | ms/step | tokens/s | GFLOP/s | share of fp32 peak | share of own peak | first 3 steps |")
    print("|---|---|---|---|---|---|---|")
    for precision in ("fp32", "bf16"):
        sec, first = train_rate(model, args.batch_size, args.steps, precision, device, args.compile)
        rate = flops / sec
        print(f"| {precision} | {sec * 1e3:.0f} | {tokens / sec:,.0f} | {rate / 1e9:.0f} | "
              f"{rate / peaks['fp32']:.0%} | {rate / peaks[precision]:.0%} | {first:.1f} s |")
    # Why cpu_attention.py computes attention as it does under CPU autocast.
    ways = ("fused fp32", "fused bf16", "written out fp32", "autocast", "compiled")
    print(f"\n| one layer's attention, forward + backward (ms) | {' | '.join(ways)} |\n|---" + "|---" * len(ways) + "|")
    for length in (32, 64, 128, 256):
        shape = (8192 // length, model.cfg.n_head, length, model.cfg.d_model // model.cfg.n_head)
        ms = [attention_ms(way, shape, device) for way in ways]
        print(f"| {shape[0]} windows of {length} | " + " | ".join(f"{m:.1f}" for m in ms) + " |")


if __name__ == "__main__":
    main()

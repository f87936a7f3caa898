"""Training: AdamW with warm-up and cosine decay, on a step or wall-clock budget, resumable.

The loop is the usual one (draw a batch of windows, compute the loss, step AdamW) with
the pieces that make a small run on a laptop count:

- the loss is the NELBO of `masking.py` with the low-variance any-order estimator, so
  the number being minimised is the number being reported;
- bf16 autocast where the hardware has fast bf16 (see `device.py`);
- a wall-clock budget (`time_budget`) runs the cosine schedule over elapsed time and
  stops when the time is up, however fast the machine is (a step budget, `max_steps`,
  is deterministic: the same seed gives the same weights);
- checkpoints are written atomically every `ckpt_interval` steps, at the end and on
  Ctrl-C; `resume=True` restores weights, AdamW moments and both random generators,
  so an interrupted step-budget run continues as if it never stopped;
- a window schedule (`window_schedule`) can train on short windows first and the model's
  full context at the end, at the same characters per step;
- early stopping, for a model that overfits (the autoregressive twin does, chapter 10):
  `keep_best` keeps the weights of the best validation estimate in `<out>-best`, and
  `patience` ends the run once that many estimates in a row have not improved on it.

References: Loshchilov & Hutter 2019 (AdamW); Karpathy, nanoGPT `train.py`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from . import checkpoint, data
from .device import autocast, pick_device
from .masking import ESTIMATORS, T_SAMPLINGS, corrupt, evaluate, next_char_per_sequence, weighted_masked_ce
from .model import PRESETS, Denoiser, preset
from .tokenizer import CharTokenizer


@dataclass
class TrainConfig:
    preset: str = "laptop"            # model size, a name from model.PRESETS
    model: dict = field(default_factory=dict)  # overrides of the preset, e.g. {"d_model": 256}
    causal: bool = False              # train the autoregressive twin instead of the denoiser
    batch_size: int = 32              # windows per step (of the model's full context)
    window_schedule: list | None = None  # [[progress, length], ...]: shorter windows early, see window_at
    lr: float = 3e-3                  # peak learning rate; small models take a high one
    min_lr_ratio: float = 0.1         # the cosine decays to lr * min_lr_ratio
    warmup_steps: int = 50            # linear warm-up
    max_steps: int | None = 1000      # step budget (with a time budget too: a cap), or None
    time_budget: float | None = None  # seconds of wall clock; the schedule then follows the clock
    optimizer: str = "adamw"          # adamw, or muon for the blocks' matrices (AdamW for the rest)
    adamw_lr_ratio: float = 1.0       # with muon: AdamW's lr (embeddings, head, norms) as a multiple of lr
    weight_decay: float = 0.1         # on matrices and embeddings only, not on norms
    beta2: float = 0.99               # AdamW's second-moment decay (0.99: small batches, noisy loss)
    grad_clip: float = 1.0            # clip the gradient norm; the 1/k weights make rare spikes
    estimator: str = "any-order"      # NELBO estimator, see masking.py
    t_sampling: str = "stratified"    # how a batch's times are drawn, see masking.py
    eval_interval: int = 250          # steps between validation estimates
    eval_windows: int = 64            # validation windows per estimate (2 mask draws each)
    ckpt_interval: int = 1000         # steps between checkpoints
    keep_best: bool = False           # also keep the best validation estimate's weights in <out>-best
    patience: int | None = None       # stop after this many estimates in a row without a new best
    precision: str = "auto"           # auto, fp32 or bf16 (autocast)
    compile: bool = False             # torch.compile the model
    seed: int = 0                     # seeds the weights, the batches and the masks

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"unknown model preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.optimizer not in ("adamw", "muon"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose adamw or muon")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r}; choose one of {', '.join(ESTIMATORS)}")
        if self.t_sampling not in T_SAMPLINGS:
            raise ValueError(f"unknown t sampling {self.t_sampling!r}; choose one of {', '.join(T_SAMPLINGS)}")
        if self.max_steps is None and self.time_budget is None:
            raise ValueError("give a step budget (max_steps) or a time budget (time_budget, seconds)")
        if (self.max_steps is not None and self.max_steps < 1) or (self.time_budget is not None and self.time_budget <= 0):
            raise ValueError(f"the budget must be positive, got max_steps={self.max_steps}, time_budget={self.time_budget}")
        for name in ("batch_size", "eval_interval", "ckpt_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not self.adamw_lr_ratio > 0:
            raise ValueError(f"adamw_lr_ratio must be positive, got {self.adamw_lr_ratio}")
        if self.optimizer == "adamw" and self.adamw_lr_ratio != 1.0:
            raise ValueError("adamw_lr_ratio sets AdamW's lr beside Muon's; with optimizer adamw set lr instead")
        _check_window_schedule(self.window_schedule)
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be at least 1 (or null for none), got {self.patience}")

    @classmethod
    def from_json(cls, path, **overrides) -> TrainConfig:
        """Settings from a JSON file (a "comment" key is allowed), then `overrides` on top."""
        try:
            values = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"config file {path} not found") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"config file {path} is not valid JSON ({e})") from None
        values.pop("comment", None)
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
        return cls(**{**values, **overrides})


def _check_window_schedule(schedule) -> None:
    if schedule is None:
        return
    starts = [entry[0] for entry in schedule if isinstance(entry, (list, tuple)) and len(entry) == 2]
    if len(starts) != len(schedule) or not starts or starts[0] != 0 \
            or any(not a < b for a, b in zip(starts, starts[1:])) or starts[-1] >= 1:
        raise ValueError(f"window_schedule must be [[progress, length], ...] with progress starting at 0 and "
                         f"rising below 1, e.g. [[0, 64], [0.7, 128]]; got {schedule}")
    if any(not (isinstance(n, int) and n >= 1) for _, n in schedule):
        raise ValueError(f"window_schedule lengths must be positive whole numbers, got {schedule}")


def progress_at(step: int, cfg: TrainConfig, elapsed: float = 0.0) -> float:
    """How far through the budget a run is, from 0 to 1: by the clock (`elapsed` seconds of
    time_budget) with a time budget, else by steps after the warm-up."""
    if cfg.time_budget is not None:
        return min(1.0, elapsed / cfg.time_budget)
    return min(1.0, max(0.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)))


def lr_at(step: int, cfg: TrainConfig, elapsed: float = 0.0) -> float:
    """Linear warm-up to cfg.lr over warmup_steps, then a cosine down to lr * min_lr_ratio at the
    end of the budget: at max_steps, or, with a time budget, after time_budget seconds of wall
    clock (`elapsed`), so a run on a slow or busy machine still ends annealed and on time."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = progress_at(step, cfg, elapsed)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def window_at(progress: float, cfg: TrainConfig, block_size: int) -> tuple[int, int]:
    """(windows per step, window length) at this point of the budget.

    Without a schedule: batch_size windows of the model's full context. With one, the last
    entry whose progress has been reached sets the length, and the number of windows grows
    to keep the characters per step (batch_size * block_size) the same, so the learning rate
    means the same throughout. Short windows early make cheaper steps (attention's cost grows
    with the length) and a young model learns local structure from them as fast; the long
    windows at the end teach it to use the whole context it is evaluated with
    (benchmarks/README.md measures both)."""
    length = block_size
    for start, n in cfg.window_schedule or []:
        if progress >= start:
            length = n
    if length > block_size or (cfg.batch_size * block_size) % length:
        raise ValueError(f"window_schedule length {length} must be at most the model's context ({block_size}) "
                         f"and divide batch_size * block_size ({cfg.batch_size * block_size})")
    return cfg.batch_size * block_size // length, length


def make_optimizers(model, cfg: TrainConfig) -> list[torch.optim.Optimizer]:
    """AdamW for everything, or Muon for the transformer blocks' weight matrices and AdamW for
    the embeddings, the output head and the norms (Muon is made for hidden matrices only).
    Each param group's "lr_ratio" scales the schedule's lr for it, so beside Muon the embeddings,
    head and norms can take their own lr (`adamw_lr_ratio`; benchmarks/README.md measures it)."""
    hidden = [p for n, p in model.named_parameters() if n.startswith("blocks.") and p.dim() == 2] \
        if cfg.optimizer == "muon" else []
    taken = {id(p) for p in hidden}
    rest = [p for p in model.parameters() if id(p) not in taken]
    ratio = cfg.adamw_lr_ratio
    groups = [{"params": [p for p in rest if p.dim() >= 2], "weight_decay": cfg.weight_decay, "lr_ratio": ratio},
              {"params": [p for p in rest if p.dim() < 2], "weight_decay": 0.0, "lr_ratio": ratio}]
    optimizers = [torch.optim.AdamW(groups, lr=cfg.lr * ratio, betas=(0.9, cfg.beta2))]
    if hidden:
        optimizers.append(torch.optim.Muon([{"params": hidden, "lr_ratio": 1.0}], lr=cfg.lr,
                                           weight_decay=cfg.weight_decay, adjust_lr_fn="match_rms_adamw"))
    return optimizers


def _state_tensors(model, optimizers, gens: dict) -> dict:
    """Optimizer moments by parameter name, and the generator states, as one flat dict of tensors."""
    out = {f"rng.{k}": g.get_state() for k, g in gens.items()}
    out["rng.torch"] = torch.get_rng_state()  # dropout draws from the global generator
    state = {p: st for opt in optimizers for p, st in opt.state.items()}
    for name, p in model.named_parameters():
        for k, v in state.get(p, {}).items():
            out[f"opt.{name}.{k}"] = v
    return out


def _restore_state(tensors: dict, model, optimizers, gens: dict) -> None:
    for k, g in gens.items():
        g.set_state(tensors[f"rng.{k}"])
    torch.set_rng_state(tensors["rng.torch"])
    owner = {p: opt for opt in optimizers for group in opt.param_groups for p in group["params"]}
    for name, p in model.named_parameters():
        prefix = f"opt.{name}."
        state = {k[len(prefix):]: v.to(p.device) for k, v in tensors.items() if k.startswith(prefix)}
        if "step" in state:
            state["step"] = state["step"].cpu()  # AdamW keeps its step count on the CPU
        if state:
            owner[p].state[p] = state


def _prepare(cfg: TrainConfig, text: str, out: Path, resume: bool, device):
    """Build (or restore) everything the loop needs."""
    tokenizer = CharTokenizer.from_text(text)
    start = {"step": 0, "elapsed": 0.0, "history": []}
    if resume:
        saved = checkpoint.read_config(out)
        cfg = TrainConfig(**saved["train"])  # the run continues under its own settings
        model, saved_tok, _ = checkpoint.load(out, device)
        if saved_tok != tokenizer:
            raise ValueError(f"checkpoint {out} was trained on a text with a different vocabulary "
                             f"({saved_tok.vocab_size - 1} vs {tokenizer.vocab_size - 1} characters); "
                             f"resume it with the text it was trained on")
        start = {k: saved[k] for k in start}
    else:
        mcfg = preset(cfg.preset, **{**cfg.model, "vocab_size": tokenizer.vocab_size,
                                     "mask_id": tokenizer.mask_id, "causal": cfg.causal})
        torch.manual_seed(cfg.seed)
        model = Denoiser(mcfg).to(device)
    optimizers = make_optimizers(model, cfg)
    gens = {"data": torch.Generator().manual_seed(cfg.seed), "mask": torch.Generator().manual_seed(cfg.seed + 1)}
    if resume:
        _restore_state(checkpoint.load_extra(out), model, optimizers, gens)
    return cfg, tokenizer, model, optimizers, gens, start


def best_path(out) -> Path:
    """Where `keep_best` keeps the best weights: beside the run's checkpoint, not inside it,
    since every save replaces the run's directory whole."""
    return Path(out).with_name(Path(out).name + "-best")


def estimates_since_best(history: list[dict]) -> int:
    """How many validation estimates came after the best one (0: the last one is the best).
    Read from the history, so a resumed run counts exactly as if it had not stopped."""
    values = [h["val_bpc"] for h in history]
    return len(values) - 1 - values.index(min(values)) if values else 0


def distributed_setup(device: torch.device):
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


def batch_loss(forward, mcfg, x, generator: torch.Generator, rows: slice, **loss_kwargs) -> torch.Tensor:
    """The mean loss over this process's `rows` of the global batch `x`. The masks are drawn
    for the whole batch, so every process (and a single process) draws the same numbers: each
    process trains on different windows and masks, and together they compute exactly the
    single-process gradient."""
    if mcfg.causal:
        return next_char_per_sequence(forward, x[rows]).mean()
    xt, masked, weight = corrupt(x, mcfg.mask_id, generator, **loss_kwargs)
    return weighted_masked_ce(forward(xt[rows]), x[rows], masked[rows], weight[rows]).mean()


def _rank0_clock(elapsed: float, stop: bool, world: int, device) -> tuple[float, bool]:
    """Rank 0's elapsed time and stop decision, shared: with a time budget or patience every
    process must use the same learning rate and stop at the same step (only rank 0 validates)."""
    if world == 1:
        return elapsed, stop
    shared = torch.tensor([elapsed, float(stop)], dtype=torch.float64, device=device)
    dist.broadcast(shared, src=0)
    return shared[0].item(), bool(shared[1].item())


def train(cfg: TrainConfig, out, data_path=None, resume: bool = False, device=None, progress: bool = True) -> dict:
    """Train a model (or continue one) and keep its checkpoint in the directory `out`.
    Returns the run's summary: steps, elapsed seconds, and the validation history.
    Under torchrun each process takes batch_size / world_size windows of the global batch;
    only rank 0 evaluates, writes checkpoints and shows progress."""
    out = Path(out)
    device = pick_device(device) if not isinstance(device, torch.device) else device
    rank, world, device = distributed_setup(device)
    text = data.load(data_path)
    if not resume and (out / "config.json").exists():
        raise ValueError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
    cfg, tokenizer, model, optimizers, gens, state = _prepare(cfg, text, out, resume, device)
    train_ids, val_ids = (tokenizer.encode(part) for part in data.split(text))
    for start in [start for start, _ in cfg.window_schedule or []] or [0.0]:
        batch, _ = window_at(start, cfg, model.cfg.block_size)  # a bad schedule fails now, not mid-run
        if batch % world:
            raise ValueError(f"{batch} windows per step do not split over {world} processes; make batch_size a multiple")
    forward = DistributedDataParallel(model) if world > 1 else model
    forward = torch.compile(forward, dynamic=False) if cfg.compile else forward  # one graph per window length
    loss_kwargs = {} if model.cfg.causal else {"estimator": cfg.estimator, "t_sampling": cfg.t_sampling}
    lead = rank == 0

    def validate():
        return evaluate(model, val_ids, torch.Generator().manual_seed(1234), draws=2,
                        max_windows=cfg.eval_windows, **loss_kwargs)[0]

    step, clock, smooth, eval_seconds = state["step"], time.perf_counter() - state["elapsed"], None, 0.0
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not (progress and lead), desc="train", unit="step")

    def meta(elapsed: float) -> dict:  # a checkpoint's config.json: the settings and the run so far
        return {"train": asdict(cfg), "step": step, "elapsed": elapsed, "history": state["history"],
                "params": model.num_params()}

    def record():  # a validation estimate in the history (rank 0 only)
        nonlocal eval_seconds
        start = time.perf_counter()
        entry = {"step": step, "elapsed": round(start - clock, 2), "val_bpc": validate()}
        if smooth is not None:
            entry["train_bpc"] = smooth / math.log(2)
            bar.set_postfix(train=f"{entry['train_bpc']:.3f}", val=f"{entry['val_bpc']:.3f}")
        state["history"].append(entry)
        if cfg.keep_best and estimates_since_best(state["history"]) == 0:
            checkpoint.save(best_path(out), model, tokenizer, meta(entry["elapsed"]))
        eval_seconds = time.perf_counter() - start

    def save():
        state.update(step=step, elapsed=time.perf_counter() - clock)
        checkpoint.save(out, model, tokenizer, meta(state["elapsed"]), _state_tensors(model, optimizers, gens))

    if step == 0 and lead:
        record()
    try:
        while True:
            elapsed = time.perf_counter() - clock
            out_of_time = cfg.time_budget is not None and elapsed + eval_seconds >= cfg.time_budget  # keep time for the last estimate
            out_of_patience = cfg.patience is not None and estimates_since_best(state["history"]) >= cfg.patience
            elapsed, stop = _rank0_clock(elapsed, out_of_time or out_of_patience, world, device)
            if stop or (cfg.max_steps is not None and step >= cfg.max_steps):
                break
            for group in (g for opt in optimizers for g in opt.param_groups):
                group["lr"] = lr_at(step, cfg, elapsed) * group["lr_ratio"]
            batch, length = window_at(progress_at(step, cfg, elapsed), cfg, model.cfg.block_size)
            rows = slice(rank * batch // world, (rank + 1) * batch // world)
            x = data.get_batch(train_ids, batch, length + (1 if model.cfg.causal else 0), gens["data"]).to(device)
            with autocast(device, cfg.precision):
                loss = batch_loss(forward, model.cfg, x, gens["mask"], rows, **loss_kwargs)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            for opt in optimizers:
                opt.step()
                opt.zero_grad(set_to_none=True)
            step += 1
            smooth = loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()
            bar.update()
            if lead and step % cfg.eval_interval == 0:
                record()
            if lead and step % cfg.ckpt_interval == 0:
                save()
        if lead and state["history"][-1]["step"] != step:
            record()
    except KeyboardInterrupt:
        bar.write(f"interrupted at step {step}; checkpoint saved to {out}, continue with --resume")
    finally:
        if lead and (state["step"] != step or not (out / "config.json").exists()):
            save()
        bar.close()
    if world > 1:  # wait for rank 0's last save, then leave the group cleanly
        dist.barrier()
        dist.destroy_process_group()
    return {"steps": step, "elapsed": time.perf_counter() - clock, "history": state["history"],
            "params": model.num_params(), "rank": rank}

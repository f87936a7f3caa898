"""Training: AdamW (or Muon) with warm-up and cosine decay, on a step or wall-clock budget.

`train` is the usual loop (draw a batch of windows, compute the loss, step the optimizer)
with what makes a small run on a laptop count:
- the loss is the NELBO of `masking.py`, so the number minimised is the number reported;
- a wall-clock budget runs the cosine over elapsed time: a slow machine still ends annealed;
- checkpoints hold the optimizer and generator states, so `resume=True` continues a run exactly;
- early stopping for a model that overfits (the twin, chapter 10) can validate on a held-out tail
  of the training split, so the validation split that scores it plays no part in choosing it.

References: Loshchilov & Hutter 2019 (AdamW); Jordan et al. 2024 (Muon); Karpathy, nanoGPT `train.py`.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import checkpoint, data, distributed
from .device import autocast, pick_device
from .evaluate import evaluate
from .masking import ESTIMATORS, corrupt, next_char_per_sequence, weighted_masked_ce
from .model import Denoiser, check_field_types, preset
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
    weight_decay: float = 0.1         # on matrices and embeddings only, not on norms
    beta2: float = 0.99               # AdamW's second-moment decay (0.99: small batches, noisy loss)
    grad_clip: float = 1.0            # clip the gradient norm; the 1/k weights make rare spikes
    estimator: str = "any-order"      # NELBO estimator, see masking.py
    eval_interval: int = 250          # steps between validation estimates
    eval_windows: int = 64            # validation windows per estimate (2 mask draws each)
    ckpt_interval: int = 1000         # steps between checkpoints
    holdout_fraction: float = 0.0     # > 0: validate and early-stop on this last share of the training split
    keep_best: bool = False           # also keep the best validation estimate's weights in <out>-best
    patience: int | None = None       # stop after this many estimates in a row without a new best
    precision: str = "auto"           # auto, fp32 or bf16 (autocast)
    compile: bool = False             # torch.compile the model
    seed: int = 0                     # seeds the weights, the batches and the masks

    def __post_init__(self):
        check_field_types(self)
        preset(self.preset)  # an unknown name fails here, not when the run starts
        if self.optimizer not in ("adamw", "muon"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose adamw or muon")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r}; choose one of {', '.join(ESTIMATORS)}")
        if self.max_steps is None and self.time_budget is None:
            raise ValueError("give a step budget (max_steps) or a time budget (time_budget, seconds)")
        if (self.max_steps is not None and self.max_steps < 1) or \
                (self.time_budget is not None and self.time_budget <= 0):
            raise ValueError(f"the budget must be positive, got max_steps={self.max_steps}, "
                             f"time_budget={self.time_budget}")
        for name in ("batch_size", "eval_interval", "ckpt_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        _check_window_schedule(self.window_schedule)
        if not 0 <= self.holdout_fraction < 0.5:
            raise ValueError(f"holdout_fraction must be at least 0 and below 0.5, got {self.holdout_fraction}")
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
        try:
            return cls(**{**values, **overrides})
        except ValueError as e:
            raise ValueError(f"config file {path}: {e}") from None


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
    """(windows per step, window length) at this point of the budget. Without a schedule: batch_size
    windows of the full context; with one, the length of the last entry reached, and as many windows
    as keep the characters per step (so what the learning rate means) the same. Short windows make
    cheap early steps, from which a young model learns local structure as fast; the long ones at the
    end teach it to use the whole context it is evaluated with."""
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
    Both follow the same learning-rate schedule."""
    hidden = [p for n, p in model.named_parameters() if n.startswith("blocks.") and p.dim() == 2] \
        if cfg.optimizer == "muon" else []
    taken = {id(p) for p in hidden}
    rest = [p for p in model.parameters() if id(p) not in taken]
    groups = [{"params": [p for p in rest if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in rest if p.dim() < 2], "weight_decay": 0.0}]
    optimizers = [torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, cfg.beta2))]
    if hidden:
        optimizers.append(torch.optim.Muon(hidden, lr=cfg.lr,
                                           weight_decay=cfg.weight_decay, adjust_lr_fn="match_rms_adamw"))
    return optimizers


def batch_loss(model, x, generator: torch.Generator, estimator: str = "any-order") -> torch.Tensor:
    """The training loss on a batch of windows x (B, T): corrupt each window with one draw of
    the noise and take the weighted masked cross-entropy (the NELBO estimate), averaged over
    the batch. The autoregressive twin's batch holds T + 1 characters: the next-character loss."""
    if model.cfg.causal:
        return next_char_per_sequence(model, x).mean()
    xt, masked, weight = corrupt(x, model.cfg.mask_id, generator, estimator)  # (B, T), (B, T), (B,)
    return weighted_masked_ce(model(xt), x, masked, weight).mean()


# Settings that may change when a run is resumed: they do not change what has been computed
# (a new max_steps stretches or shortens the rest of the cosine schedule).
RESUMABLE = ("max_steps", "eval_interval", "ckpt_interval", "keep_best", "patience", "precision", "compile")


def resumed_config(out: Path, overrides: dict) -> TrainConfig:
    """The run's saved settings, with the `overrides` that are safe to change on a resume."""
    fixed = sorted(set(overrides) - set(RESUMABLE))
    if fixed:
        raise ValueError(f"{', '.join(fixed)} cannot change when resuming {out} (it continues under its saved "
                         f"settings); only {', '.join(RESUMABLE)} can, or start a new run with another --out")
    saved = checkpoint.read_config(out)["train"]
    unknown = sorted(set(saved) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise ValueError(f"{out} was written by another version of dlm_core (unknown setting(s) "
                         f"{', '.join(unknown)}); it cannot be resumed by this one")
    return TrainConfig(**{**saved, **overrides})


def best_path(out) -> Path:
    """Where `keep_best` keeps the best weights: beside the run's checkpoint, not inside it,
    since every save replaces the run's directory whole."""
    return Path(out).with_name(Path(out).name + "-best")


def estimates_since_best(history: list[dict]) -> int:
    """How many validation estimates came after the best one (0: the last one is the best).
    Read from the history, so a resumed run counts exactly as if it had not stopped."""
    values = [h["val_bpc"] for h in history]
    return len(values) - 1 - values.index(min(values)) if values else 0


class Run:
    """One training run's state (model, optimizers, generators, step, clock, validation history)
    and what it does besides stepping: validate, keep the best weights, save, decide to stop."""

    def __init__(self, cfg: TrainConfig, text: str, out: Path, resume: bool, device: torch.device):
        self.cfg, self.out = cfg, out
        self.tokenizer = CharTokenizer.from_text(text)
        train_text, val_text = data.split(text)
        if cfg.holdout_fraction:  # validate on the training split's tail, keep the validation split unseen
            train_text, val_text = data.split(train_text, 1 - cfg.holdout_fraction)
        self.train_ids, self.val_ids = self.tokenizer.encode(train_text), self.tokenizer.encode(val_text)
        saved = {"step": 0, "elapsed": 0.0, "history": []}
        if resume:
            self.model, saved_tok, saved = checkpoint.load(out, device)
            if saved_tok != self.tokenizer:
                raise ValueError(f"checkpoint {out} was trained on a text with a different vocabulary; "
                                 f"resume it with the text it was trained on")
        else:
            mcfg = preset(cfg.preset, **{**cfg.model, "vocab_size": self.tokenizer.vocab_size,
                                         "mask_id": self.tokenizer.mask_id, "causal": cfg.causal})
            torch.manual_seed(cfg.seed)
            self.model = Denoiser(mcfg).to(device)
        self.optimizers = make_optimizers(self.model, cfg)
        self.gens = {"data": torch.Generator().manual_seed(cfg.seed),
                     "mask": torch.Generator().manual_seed(cfg.seed + 1)}
        if resume:
            checkpoint.restore_training_state(out, self.model, self.optimizers, self.gens)
        self.step, self.history = saved["step"], saved["history"]
        self.clock = time.perf_counter() - saved["elapsed"]
        self.smooth_loss, self.eval_seconds, self.saved_step = None, 0.0, (self.step if resume else None)

    def elapsed(self) -> float:
        return time.perf_counter() - self.clock

    def out_of_budget(self, elapsed: float) -> bool:
        """Time or patience is up (a time budget keeps room for the last validation estimate)."""
        cfg = self.cfg
        return (cfg.time_budget is not None and elapsed + self.eval_seconds >= cfg.time_budget) or \
            (cfg.patience is not None and estimates_since_best(self.history) >= cfg.patience)

    def meta(self) -> dict:  # a checkpoint's config.json: the settings and the run so far
        return {"train": asdict(self.cfg), "step": self.step, "elapsed": self.elapsed(),
                "history": self.history, "params": self.model.num_params()}

    def record(self) -> dict:
        """A validation estimate, added to the history; with keep_best, a new best's weights are saved."""
        start = time.perf_counter()
        val_bpc, _ = evaluate(self.model, self.val_ids, torch.Generator().manual_seed(1234), draws=2,
                              max_windows=self.cfg.eval_windows, estimator=self.cfg.estimator)
        entry = {"step": self.step, "elapsed": round(start - self.clock, 2), "val_bpc": val_bpc}
        if self.smooth_loss is not None:
            entry["train_bpc"] = self.smooth_loss / math.log(2)
        self.history.append(entry)
        if self.cfg.keep_best and estimates_since_best(self.history) == 0:
            checkpoint.save(best_path(self.out), self.model, self.tokenizer, self.meta())
        self.eval_seconds = time.perf_counter() - start
        return entry

    def save(self) -> None:
        """The checkpoint, written atomically, with everything an exact resume needs; never weights
        that are nan or inf, which would overwrite the last good checkpoint with a dead one."""
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise FloatingPointError(f"the weights are not finite at step {self.step}")
        extra = checkpoint.training_state(self.model, self.optimizers, self.gens)
        checkpoint.save(self.out, self.model, self.tokenizer, self.meta(), extra)
        self.saved_step = self.step


def train_step(run: Run, forward, rank: int, world: int, device, elapsed: float) -> float:
    """One optimizer step on a fresh batch; returns the batch loss (nats per character)."""
    cfg, model = run.cfg, run.model
    for group in (g for opt in run.optimizers for g in opt.param_groups):
        group["lr"] = lr_at(run.step, cfg, elapsed)
    batch, length = window_at(progress_at(run.step, cfg, elapsed), cfg, model.cfg.block_size)
    x = data.get_batch(run.train_ids, batch, length + (1 if cfg.causal else 0), run.gens["data"]).to(device)
    with autocast(device, cfg.precision):
        if world == 1:
            loss = batch_loss(forward, x, run.gens["mask"], cfg.estimator)
        else:
            loss = distributed.shard_loss(forward, model.cfg, x, run.gens["mask"], rank, world,
                                          estimator=cfg.estimator)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    if not torch.isfinite(norm):  # a nan or inf loss or gradient: stop before it reaches the weights
        raise FloatingPointError(f"the gradient norm is {norm.item()} at step {run.step}")
    for opt in run.optimizers:
        opt.step()
        opt.zero_grad(set_to_none=True)
    run.step += 1
    return loss.item()


@contextlib.contextmanager
def ctrl_c_after_the_step():
    """Hold a Ctrl-C until the block ends: an interrupt in the middle of an optimizer step would save
    half-updated weights as the step before, and the resumed run would not be the one interrupted.
    (Signal handlers live in the main thread only; elsewhere Ctrl-C cannot reach the run anyway.)"""
    pressed = []
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def check_batches(cfg: TrainConfig, block_size: int, world: int) -> None:
    """Fail now, not mid-run, on a window schedule whose batches do not fit the model or the processes."""
    for start in [start for start, _ in cfg.window_schedule or []] or [0.0]:
        batch, _ = window_at(start, cfg, block_size)
        if batch % world:
            raise ValueError(f"{batch} windows per step do not split over {world} processes; "
                             f"make batch_size a multiple")


def run_steps(run: Run, forward, bar, rank: int, world: int, device) -> None:
    """Optimizer steps until the budget (steps, time or patience) is spent, estimating the validation
    loss every `eval_interval` steps and saving every `ckpt_interval` (on the lead process only)."""
    cfg, lead = run.cfg, rank == 0
    while True:
        elapsed, stop = distributed.agree(run.elapsed(), run.out_of_budget(run.elapsed()), world, device)
        if stop or (cfg.max_steps is not None and run.step >= cfg.max_steps):
            break
        with ctrl_c_after_the_step():
            loss = train_step(run, forward, rank, world, device, elapsed)
        run.smooth_loss = loss if run.smooth_loss is None else 0.95 * run.smooth_loss + 0.05 * loss
        bar.update()
        if lead and run.step % cfg.eval_interval == 0:
            entry = run.record()
            bar.set_postfix(train=f"{entry['train_bpc']:.3f}", val=f"{entry['val_bpc']:.3f}")
        if lead and run.step % cfg.ckpt_interval == 0:
            run.save()
    if lead and run.history[-1]["step"] != run.step:
        run.record()


def train(cfg: TrainConfig | None, out, data_path=None, resume: bool = False, device=None,
          progress: bool = True, overrides: dict | None = None) -> dict:
    """Train a model in the checkpoint directory `out` (with resume: continue it under its saved
    settings plus the safe `overrides`); returns steps, elapsed seconds, parameters, history and
    whether Ctrl-C stopped it (the checkpoint is saved either way)."""
    out = Path(out)
    rank, world, device = distributed.setup(device if isinstance(device, torch.device) else pick_device(device))
    if not resume and (out / "config.json").exists():
        raise ValueError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
    cfg = resumed_config(out, overrides or {}) if resume else cfg
    run = Run(cfg, data.load(data_path), out, resume, device)
    check_batches(cfg, run.model.cfg.block_size, world)
    forward = distributed.wrap(run.model, world)
    forward = torch.compile(forward, dynamic=False) if cfg.compile else forward  # one graph per window length
    lead = rank == 0
    bar = tqdm(total=cfg.max_steps, initial=run.step, disable=not (progress and lead), desc="train", unit="step")
    if run.step == 0 and lead:
        run.record()
    interrupted = False
    try:
        try:
            run_steps(run, forward, bar, rank, world, device)
        except KeyboardInterrupt:  # held until the step ended, so the weights are whole
            interrupted = True
        if lead and run.saved_step != run.step:
            run.save()  # the steps since the last checkpoint; refuses weights that went nan
    except FloatingPointError as e:
        raise ValueError(f"training diverged: {e}; {out} keeps its last good checkpoint, step {run.saved_step}") from e
    finally:
        bar.close()
    if interrupted:
        print(f"interrupted at step {run.step}; checkpoint saved to {out}, continue with --resume")
    distributed.finish(world)
    return {"steps": run.step, "elapsed": run.elapsed(), "history": run.history,
            "params": run.model.num_params(), "rank": rank, "interrupted": interrupted}

"""The `dlm` command: train, sample and evaluate from a terminal.

    dlm train --preset laptop --minutes 5 --out runs/laptop     # or --config configs/cpu-5min.json
    dlm sample --checkpoint runs/laptop --prompt "ROMEO:" --length 128 --steps 64
    dlm sample --checkpoint runs/laptop --infill "To be, or ___ to be"
    dlm sample --checkpoint runs/twin --prompt "ROMEO:"   # a causal=True checkpoint writes left to right
    dlm eval --checkpoint runs/laptop --split val

A mistake in the input (a missing file, an unknown character, a bad option) is reported
as one line on stderr with exit status 2, not as a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

from . import checkpoint, data, export, pretrained
from .device import pick_device
from .evaluate import evaluate
from .masking import ESTIMATORS
from .model import PRESETS
from .sampler import STRATEGIES, generate, sample
from .train import TrainConfig, train


# What `dlm sample` does without flags, chosen by benchmarks/sampler_study.py (chapter 8): plain
# ancestral sampling invents words, plain confidence decoding loops, and confidence decoding with
# MaskGIT's annealed choice noise keeps most of the first's variety and most of the second's spelling.
DEFAULT_SAMPLER = dict(steps=64, strategy="confidence", choice_temperature=1.5)


def _options(args) -> dict:
    """The training settings given on the command line."""
    values = {name: getattr(args, name) for name in
              ("preset", "max_steps", "batch_size", "lr", "seed", "causal", "compile", "precision")
              if getattr(args, name) is not None}
    if args.minutes is not None:
        values.update(time_budget=60 * args.minutes, max_steps=None)
    return values


def _train_config(args) -> TrainConfig:
    """The config file's settings (if any), overridden by the options given on the command line."""
    values = _options(args)
    return TrainConfig.from_json(args.config, **values) if args.config else TrainConfig(**values)


def cmd_train(args) -> int:
    if args.resume and args.config:
        raise ValueError("--config cannot be combined with --resume: the run continues under its saved settings")
    cfg, overrides = (None, _options(args)) if args.resume else (_train_config(args), None)
    result = train(cfg, args.out, data_path=args.data, resume=args.resume, device=args.device,
                   progress=not args.quiet, overrides=overrides)
    if result["interrupted"]:  # Ctrl-C: the checkpoint is saved, but a script must not take the run as finished
        return 130
    if result["rank"] != 0:  # under torchrun, one summary is enough
        return 0
    last = result["history"][-1]
    print(f"trained {result['params']:,} parameters for {result['steps']} steps in {result['elapsed'] / 60:.1f} min; "
          f"validation estimate {last['val_bpc']:.3f} bits/char (run `dlm eval --checkpoint {args.out}` "
          f"for the full number); checkpoint in {args.out}")
    return 0


def _load(args):
    """The checkpoint named by --checkpoint, or the one shipped with the course."""
    if args.checkpoint is None:
        return pretrained.load(args.device)
    return checkpoint.load(args.checkpoint, pick_device(args.device))


def _write(model, tokenizer, args):
    """Diffusion sampling, or, for an autoregressive twin's checkpoint, left-to-right generation."""
    length = None if args.infill else args.length or model.cfg.block_size
    decoding = dict(n_samples=args.n, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                    seed=args.seed)
    if not model.cfg.causal:
        choice = args.choice_temperature  # unset: the default's with confidence decoding, none with ancestral
        if choice is None:
            choice = DEFAULT_SAMPLER["choice_temperature"] if args.strategy == "confidence" else 0.0
        return sample(model, tokenizer, length=length, steps=args.steps, strategy=args.strategy, prompt=args.prompt,
                      template=args.infill, block_length=args.block_length, choice_temperature=choice, **decoding)
    if args.infill:
        raise ValueError("this checkpoint is an autoregressive twin, which cannot fill holes; "
                         "use a diffusion checkpoint for --infill")
    return generate(model, tokenizer, length, prompt=args.prompt or "\n", **decoding)


def cmd_sample(args) -> None:
    model, tokenizer, _ = _load(args)
    start = time.perf_counter()
    out = _write(model, tokenizer, args)
    seconds = time.perf_counter() - start
    if args.json:
        print(json.dumps({"texts": out.texts, "steps": out.steps, "seconds": round(seconds, 3),
                          "revealed_at": out.revealed_at.tolist(), "confidence": out.confidence.tolist()}))
        return
    for i, text in enumerate(out.texts):
        print(f"--- sample {i} ---\n{text}")


def cmd_eval(args) -> None:
    model, tokenizer, _ = _load(args)
    if args.text:
        try:
            text = Path(args.text).read_text()
        except FileNotFoundError:
            raise FileNotFoundError(f"text file {args.text} not found") from None
        source = args.text
    else:
        train_text, val_text = data.split(data.load(args.data))
        text, source = (val_text if args.split == "val" else train_text), f"{args.split} split"
    ids = tokenizer.encode(text)
    bpc, se = evaluate(model, ids, torch.Generator().manual_seed(args.seed), draws=args.draws,
                       max_windows=args.windows, estimator=args.estimator)  # the twin ignores it
    if args.json:
        print(json.dumps({"bits_per_char": bpc, "stderr": se, "source": source, "draws": args.draws,
                          "nats_per_char": bpc * math.log(2)}))
    else:
        kind = "next-character loss" if model.cfg.causal else "NELBO (an upper bound)"
        print(f"{source}: {bpc:.4f} ± {se:.4f} bits/char, {kind}")


def cmd_export(args) -> None:
    model, tokenizer, _ = _load(args)
    path = export.export_onnx(model, tokenizer, args.onnx, opset=args.opset)
    print(f"wrote {path} (ONNX opset {args.opset}) and its vocabulary {export.tokenizer_path(path)}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dlm", description="A character-level masked diffusion language model.")
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", help="cuda, mps or cpu (default: $DLM_DEVICE, else the best available)")
    common.add_argument("--data", help="path to tinyshakespeare.txt (default: $DLM_DATA, the cache, or download)")
    shipped = argparse.ArgumentParser(add_help=False)
    shipped.add_argument("--checkpoint",
                         help="checkpoint directory (default: the model shipped with the course)")

    t = sub.add_parser("train", parents=[common], help="train a model")
    t.add_argument("--out", required=True, help="checkpoint directory")
    t.add_argument("--config", help="JSON file of TrainConfig settings")
    t.add_argument("--preset", choices=list(PRESETS), help="model size")
    t.add_argument("--minutes", type=float, help="wall-clock budget (replaces --max-steps)")
    t.add_argument("--max-steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--seed", type=int)
    t.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    t.add_argument("--causal", action="store_true", default=None, help="train the autoregressive twin")
    t.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the model (--no-compile: switch it off for a resumed run)")
    t.add_argument("--resume", action="store_true",
                   help="continue the checkpoint in --out under its saved settings (of the options above, only "
                        "--max-steps, --precision and --compile may change)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", parents=[common, shipped], help="generate text")
    s.add_argument("--prompt", default="", help="characters the text starts with")
    s.add_argument("--infill", help='a template with holes "_" to fill, e.g. "To be, or ___ to be"')
    s.add_argument("--length", type=int, help="characters to write, prompt included (default: the model's context)")
    s.add_argument("--steps", type=int, default=DEFAULT_SAMPLER["steps"])
    s.add_argument("--strategy", choices=STRATEGIES, default=DEFAULT_SAMPLER["strategy"])
    s.add_argument("--choice-temperature", type=float,
                   help=f"noise on confidence decoding's choice (default {DEFAULT_SAMPLER['choice_temperature']} "
                        f"with --strategy confidence)")
    s.add_argument("--block-length", type=int, help="fill left to right in blocks of this many characters")
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--top-k", type=int)
    s.add_argument("--top-p", type=float)
    s.add_argument("-n", type=int, default=1, help="number of samples")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("eval", parents=[common, shipped], help="bits per character on a split or a text file")
    e.add_argument("--split", choices=["val", "train"], default="val")
    e.add_argument("--text", help="evaluate this text file instead of a split")
    e.add_argument("--draws", type=int, default=8,
                   help="mask draws per window (an even number: two stratified sets, which lowers the noise)")
    e.add_argument("--windows", type=int, help="use at most this many windows (default: all)")
    e.add_argument("--estimator", choices=ESTIMATORS, default="any-order")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)

    x = sub.add_parser("export", parents=[shipped],
                       help="write the denoiser as an ONNX graph (needs the onnx extra)")
    x.add_argument("--onnx", required=True, metavar="PATH",
                   help="the graph's file, e.g. model.onnx; the vocabulary goes beside it (model.tokenizer.json)")
    x.add_argument("--opset", type=int, default=export.DEFAULT_OPSET,
                   help=f"ONNX opset, {export.MIN_OPSET} to {export.MAX_OPSET} (default {export.DEFAULT_OPSET})")
    x.set_defaults(func=cmd_export, device="cpu")  # the graph is the same whichever device traced it
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0  # train gives its own status; the other commands succeed or raise
    except (ValueError, FileNotFoundError) as e:
        print(f"dlm {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

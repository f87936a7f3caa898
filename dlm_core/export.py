"""Export the denoiser to ONNX, and run the exported graph in place of the PyTorch model.

`dlm export --onnx model.onnx` writes two files: `model.onnx`, the network as an ONNX graph
(the weights inside), and `model.tokenizer.json` beside it, the vocabulary that gives the
ids their meaning. The graph has one input and one output, both with free batch and length axes:

    xt      int64   (B, T)     ids, [MASK] where a character is hidden; T <= block_size
    logits  float32 (B, T, V)  exactly what `Denoiser.forward` returns

so the SUBS rules (-inf for [MASK], a point mass on an unmasked character) travel with it.
The ModelConfig is stored in the graph's metadata: the `.onnx` file describes itself.

`OnnxDenoiser` runs the graph with ONNX Runtime in place of the PyTorch model: a check that
the export is faithful (the same seed gives the same text), and a template for serving the
model without PyTorch. onnx, onnxscript and onnxruntime are an optional extra, imported only
when needed; without them the functions here say in one line how to install them.

References: the ONNX operator specification (onnx.ai); PyTorch, "Export a PyTorch model to
ONNX" (torch.onnx); ONNX Runtime's Python API.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from .model import ModelConfig
from .tokenizer import CharTokenizer

# PyTorch's ONNX functions are written in opset 18, and with torch 2.13 converting them to an older
# one goes wrong for this model (14-16 come out as 18, 17 as a graph ONNX Runtime rejects), so we
# refuse those. 23 is the newest torch 2.13 knows; 18 runs on every ONNX Runtime since 1.14.
MIN_OPSET, MAX_OPSET = 18, 23
DEFAULT_OPSET = 18
CONFIG_KEY = "dlm.model_config"  # the metadata entry that holds the ModelConfig as JSON


def _require(name: str):
    """Import an optional dependency, or say in one line how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ValueError(f'{name} is not installed; the ONNX tools need it: pip install "dlm-course[onnx]"') from None


def tokenizer_path(path) -> Path:
    """Where the vocabulary of an exported model lives: model.onnx -> model.tokenizer.json."""
    return Path(path).with_suffix(".tokenizer.json")


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's warnings about packages it does not need here and its own deprecations."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def export_onnx(model, tokenizer: CharTokenizer, path, opset: int = DEFAULT_OPSET) -> Path:
    """Write `model` as an ONNX graph to `path` and its vocabulary beside it; returns `path`.

    `torch.export` (not the deprecated TorchScript tracer) traces the model once on an example
    input. The length axis is declared free up to block_size: the model's own length check becomes
    that bound, and the rotary tables are sliced to the actual length inside the graph."""
    path = Path(path)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset {opset} is not supported; choose one from {MIN_OPSET} to {MAX_OPSET} "
                         f"(default {DEFAULT_OPSET})")
    for name in ("onnx", "onnxscript"):  # torch.onnx writes the graph with them; say so before tracing
        _require(name)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a file name such as {path / 'model.onnx'}")
    cfg = model.cfg
    xt = torch.full((2, cfg.block_size), cfg.mask_id, device=next(model.parameters()).device)  # any ids do
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("length", max=cfg.block_size)}
    was_training = model.training
    model.eval()  # no dropout in the graph
    with _quiet_exporter():
        program = torch.onnx.export(model, (xt,), input_names=["xt"], output_names=["logits"], opset_version=opset,
                                    dynamic_shapes={"xt": dims}, dynamo=True, verbose=False)  # no progress lines
    model.train(was_training)
    program.model.metadata_props[CONFIG_KEY] = json.dumps(cfg.to_dict())
    path.parent.mkdir(parents=True, exist_ok=True)
    program.save(path)
    tokenizer.save(tokenizer_path(path))
    return path


class OnnxDenoiser(nn.Module):
    """An exported denoiser run by ONNX Runtime, called like `Denoiser`: xt (B, T) -> logits (B, T, V).

    An `nn.Module` without parameters, so that code written for the PyTorch model runs unchanged
    (`model.cfg`, `model.eval()`, `torch.no_grad()`). It runs on the CPU with as many threads as
    PyTorch uses, so one setting (`torch.set_num_threads`) governs both."""

    def __init__(self, path):
        super().__init__()
        ort = _require("onnxruntime")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model {path} not found (write one with `dlm export --onnx {path}`)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except (ort.capi.onnxruntime_pybind11_state.InvalidProtobuf, ort.capi.onnxruntime_pybind11_state.Fail) as e:
            raise ValueError(f"{path} is not a readable ONNX model ({type(e).__name__}); export it again") from None
        metadata = self.session.get_modelmeta().custom_metadata_map
        if CONFIG_KEY not in metadata:
            raise ValueError(f"{path} has no {CONFIG_KEY} metadata; it was not written by `dlm export`")
        self.cfg = ModelConfig(**json.loads(metadata[CONFIG_KEY]))
        self.eval()  # the graph has no training mode: it was exported without dropout

    def forward(self, xt):
        if xt.shape[1] > self.cfg.block_size:  # the graph would fail with a shape error deep inside
            raise ValueError(f"sequence of length {xt.shape[1]} is longer than the model's context "
                             f"({self.cfg.block_size})")
        (logits,) = self.session.run(["logits"], {"xt": xt.to("cpu", torch.long).numpy()})
        return torch.from_numpy(logits)


def load_onnx(path) -> tuple[OnnxDenoiser, CharTokenizer]:
    """(model, tokenizer) of an exported model: the graph and the vocabulary beside it."""
    return OnnxDenoiser(path), CharTokenizer.load(tokenizer_path(path))

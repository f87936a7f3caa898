"""dlm_core: a character-level masked diffusion language model, built to be read.

One module per concept, in the order the course introduces them:

    tokenizer   characters <-> ids, plus [MASK]
    data        Tiny Shakespeare: download, split, batches
    masking     the forward process q(xt | x0) and the NELBO
    model       the denoiser (a bidirectional transformer) and its causal twin
    evaluate    bits per character on a text, with its standard error
    sampler     the reverse process: unmasking, step by step
    train       the training loop, checkpoints on a step or time budget
    checkpoint  safetensors + JSON, written atomically
    pretrained  the checkpoints shipped with the course
    device      DLM_DEVICE, else cuda, then mps, then cpu; bf16 where it is fast
    quality     cheap measures of generated text: real words, repetition
    export      ONNX export, and running the exported graph
    viz         pictures of masking and unmasking, and the book's kernel-free views
    widgets     the live ipywidgets
    cli         the `dlm` command
Off the reading path: distributed (torchrun plumbing), cpu_attention (a CPU speed path).
The exercises' self-checks live beside the package, in `dlm_selfcheck`.
"""

from .checkpoint import load as load_checkpoint
from .model import Denoiser, ModelConfig, preset
from .tokenizer import CharTokenizer

__all__ = ["CharTokenizer", "Denoiser", "ModelConfig", "preset", "load_checkpoint"]
__version__ = "0.1.0"

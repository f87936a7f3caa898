"""dlm_core: a character-level masked diffusion language model, built to be read.

One module per concept, read in the order the course introduces them: tokenizer, data,
masking (the forward process and the NELBO), model (the denoiser and its causal twin),
evaluate, sampler, train, checkpoint, pretrained, device, quality, export, viz, widgets, cli.
Off the reading path: distributed (torchrun plumbing), cpu_attention (a CPU speed path).
The exercises' self-checks live beside the package, in `dlm_selfcheck`.
"""

from .checkpoint import load as load_checkpoint
from .model import Denoiser, ModelConfig, preset
from .tokenizer import CharTokenizer

__all__ = ["CharTokenizer", "Denoiser", "ModelConfig", "preset", "load_checkpoint"]
__version__ = "0.1.0"

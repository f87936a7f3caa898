"""The denoiser: a bidirectional transformer from a partly masked sequence to logits.

Given `xt`, a sequence in which some characters are replaced by `[MASK]`, the network
outputs for every position a distribution over the characters that could be there. It is
a standard pre-norm transformer encoder; two details make it a *masked diffusion* denoiser
(the "SUBS" parameterisation of MDLM):
1. it never predicts `[MASK]` (the clean text x0 never contains one): that logit is -inf;
2. an unmasked position is carried through: a point mass on the character already there.
It is not told the time t: the optimal denoiser does not need it, since the mask pattern
already says how much is hidden (MDLM, MD4).

`causal=True` turns the same network into an autoregressive model (each position sees
only itself and the left), predicting the next character: the twin we race against.
Its `KVCache` keeps the keys and values of the characters already written, so each new
character costs one position's work. (The denoiser cannot cache: revealing one character
changes what every other position attends to.)

Shapes: B sequences, T positions, C = d_model channels, H heads of D = C / H, V characters.

References: Vaswani et al. 2017 (the transformer); Sahoo et al. 2024, MDLM (SUBS);
Shi et al. 2024, MD4; Karpathy, nanoGPT `model.py` (the layout of this file).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ModelConfig:
    vocab_size: int = 66    # 65 Tiny Shakespeare characters + [MASK]
    mask_id: int = 65       # the id of [MASK]: the tokenizer's last id
    block_size: int = 256   # the longest sequence the model sees
    n_layer: int = 4        # transformer blocks
    n_head: int = 4         # attention heads; d_model must divide by it
    d_model: int = 128      # width of the residual stream
    dropout: float = 0.0    # on the embeddings and each residual branch; long runs overfit without it
    rope_base: float = 10000.0  # rotary embeddings: the slowest rotation's wavelength scale
    causal: bool = False    # True: the autoregressive twin (attend left only, predict the next char)

    def __post_init__(self):
        check_field_types(self)
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_head={self.n_head}")
        if not 0 <= self.mask_id < self.vocab_size:
            raise ValueError(f"mask_id={self.mask_id} is outside the vocabulary of {self.vocab_size}")

    def to_dict(self) -> dict:
        return asdict(self)


_TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str, "dict": dict, "list": list}


def check_field_types(config) -> None:
    """A one-line error for a setting of the wrong type (e.g. {"lr": "fast"} from a JSON file),
    read from the dataclass's annotations ("int", "float | None", ...)."""
    for f in fields(config):
        value, allowed = getattr(config, f.name), [a.strip() for a in str(f.type).split("|")]
        if value is None and "None" in allowed:
            continue
        is_bool = isinstance(value, bool)  # True is an int to Python, but not a number of steps
        if not any(isinstance(value, _TYPES[a]) and (a == "bool" or not is_bool) for a in allowed if a in _TYPES):
            raise ValueError(f"setting {f.name} must be {' or '.join(allowed)}, got {value!r}")


# Named sizes. `tiny` trains in seconds (tests); `laptop` is the CPU recipe of the course;
# `small` is nanoGPT's "baby GPT" size (about 10.7M parameters) for a GPU or a long run.
PRESETS = {
    "tiny":   dict(block_size=32, n_layer=2, n_head=2, d_model=32),
    "laptop": dict(block_size=128, n_layer=4, n_head=4, d_model=128),
    "small":  dict(block_size=256, n_layer=6, n_head=6, d_model=384, dropout=0.1),
}


def preset(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}")
    return ModelConfig(**{**PRESETS[name], **overrides})


def rotary_tables(cfg: ModelConfig):
    """cos and sin of the rotation angles pos * theta_j, theta_j = base^(-2j/D), D = head_dim: (T, D/2) each."""
    head_dim = cfg.d_model // cfg.n_head
    theta = cfg.rope_base ** (-torch.arange(0, head_dim, 2).float() / head_dim)  # (D/2,)
    angles = torch.outer(torch.arange(cfg.block_size).float(), theta)  # (T, D/2)
    return angles.cos(), angles.sin()


def rotate(x, cos, sin):
    """Rotary position embedding: turn each pair of channels (j, j + D/2) of q or k by an angle
    that grows with the position, so that q . k depends on how far apart two characters are."""
    x1, x2 = x.chunk(2, dim=-1)  # (B, H, T, D/2) each
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class SelfAttention(nn.Module):
    """Multi-head self-attention with rotary positions. Bidirectional unless the config says causal."""

    def __init__(self, cfg: ModelConfig, layer: int = 0):
        super().__init__()
        self.n_head, self.causal, self.layer = cfg.n_head, cfg.causal, layer
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x, cos, sin, cache: KVCache | None = None):  # x: (B, T, C); cos, sin: (T, D/2)
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (z.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))  # (B, H, T, D)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        mask = None
        if cache is not None:
            k, v = cache.extend(self.layer, k, v)  # (B, H, S, D), S = cached + T
            # the T new queries are the last T positions: query i sees keys up to S - T + i
            mask = torch.ones(T, k.shape[2], dtype=torch.bool, device=x.device).tril(k.shape[2] - T)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal and mask is None)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))  # (B, T, C)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, 4 * cfg.d_model, bias=False)
        self.proj = nn.Linear(4 * cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """Pre-norm residual block: normalise, transform, add back."""

    def __init__(self, cfg: ModelConfig, layer: int = 0):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model, bias=False)
        self.attn = SelfAttention(cfg, layer)
        self.norm2 = nn.LayerNorm(cfg.d_model, bias=False)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, cos, sin, cache: KVCache | None = None):
        x = x + self.drop(self.attn(self.norm1(x), cos, sin, cache))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x


def carry_over_unmasked(logits, xt, mask_id):
    """SUBS: where xt is not masked, replace the prediction by a point mass on xt."""
    keep = (xt != mask_id).unsqueeze(-1)  # (B, T, 1)
    point_mass = torch.full_like(logits, -math.inf).scatter(-1, xt.unsqueeze(-1), 0.0)  # (B, T, V)
    return torch.where(keep, point_mass, logits)


class Denoiser(nn.Module):
    """xt (B, T) ids -> logits (B, T, V) over x0 (or, if causal, over the next character)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        cos, sin = rotary_tables(cfg)
        self.register_buffer("cos", cos, persistent=False)  # derived from the config, so not saved
        self.register_buffer("sin", sin, persistent=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, layer) for layer in range(cfg.n_layer))
        self.norm = nn.LayerNorm(cfg.d_model, bias=False)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(self._init_weights)
        # GPT-2: shrink the residual projections so the stream's variance does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Floating-point operations to train on one token (forward + backward = 3x forward):
        2 per weight of every matrix product, plus attention's two (T x T) products.
        Embedding lookups, norms and softmax are left out, as in the PaLM/nanoGPT estimate."""
        cfg, T = self.cfg, seq_len or self.cfg.block_size
        matmul_weights = cfg.n_layer * 12 * cfg.d_model ** 2 + cfg.d_model * cfg.vocab_size
        attention = cfg.n_layer * 2 * 2 * T * cfg.d_model
        return 3 * (2 * matmul_weights + attention)

    def forward(self, xt, cache: KVCache | None = None):  # xt: (B, T)
        """With a `cache` (causal models only), xt holds just the characters that follow the
        cached ones; the cache grows by T and the logits are for those T positions."""
        start = 0 if cache is None else len(cache)
        end = start + xt.shape[1]
        if end > self.cfg.block_size:
            raise ValueError(f"sequence of length {end} is longer than the model's context ({self.cfg.block_size})")
        if cache is not None and not self.cfg.causal:
            raise ValueError("a key-value cache needs a causal model: the denoiser's keys and values "
                             "change whenever a character is revealed")
        x = self.drop(self.tok_emb(xt))  # (B, T, C)
        for block in self.blocks:
            x = block(x, self.cos[start:end], self.sin[start:end], cache)
        logits = self.head(self.norm(x)).float()  # (B, T, V); float so the loss is exact under autocast
        logits[..., self.cfg.mask_id] = -math.inf  # clean text never contains [MASK]
        if self.cfg.causal:
            return logits
        return carry_over_unmasked(logits, xt, self.cfg.mask_id)


class KVCache:
    """The keys and values of the characters seen so far, one (B, H, t, D) pair per layer."""

    def __init__(self, n_layer: int):
        self.k: list[torch.Tensor | None] = [None] * n_layer
        self.v: list[torch.Tensor | None] = [None] * n_layer

    def __len__(self) -> int:  # positions cached so far
        return 0 if self.k[0] is None else self.k[0].shape[2]

    def extend(self, layer: int, k, v):
        """Append this step's keys and values; return all of them."""
        if self.k[layer] is not None:
            k, v = torch.cat([self.k[layer], k], dim=2), torch.cat([self.v[layer], v], dim=2)
        self.k[layer], self.v[layer] = k, v
        return k, v

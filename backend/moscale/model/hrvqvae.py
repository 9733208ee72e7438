"""HRVQVAE: the conv encoder/decoder with gated RoPE attention blocks around the multi-scale quantizer."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import TokenizerConfig
from .quantizer import MultiScaleQuantizer, length_mask


def _activation(name: str) -> nn.Module:
    activations = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "leakyrelu": lambda: nn.LeakyReLU(0.1)}
    if name not in activations:
        raise ValueError(f"unknown tokenizer activation {name!r}; expected one of {sorted(activations)}")
    return activations[name]()


def _norm(name: str | None, channels: int) -> nn.Module:
    if name in (None, "None", "none"):
        return nn.Identity()
    if name == "LN":
        return _ChannelLayerNorm(channels)
    if name == "GN":
        return nn.GroupNorm(32, channels, eps=1e-6)
    if name == "BN":
        return nn.BatchNorm1d(channels, eps=1e-6)
    raise ValueError(f"unknown tokenizer norm {name!r}; expected None, LN, GN or BN")


class _ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, T) tensor."""

    def forward(self, x):
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class ResidualUnit(nn.Module):
    """x + Dropout(Conv1x1(act(Conv3_dilated(act(x)))))."""

    def __init__(self, channels: int, dilation: int, activation: str, norm: str | None, dropout: float = 0.2):
        super().__init__()
        self.norm1 = _norm(norm, channels)
        self.activation1 = _activation(activation)
        self.conv1 = nn.Conv1d(channels, channels, 3, 1, dilation, dilation)
        self.norm2 = _norm(norm, channels)
        self.activation2 = _activation(activation)
        self.conv2 = nn.Conv1d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        h = self.conv1(self.activation1(self.norm1(x)))
        h = self.conv2(self.activation2(self.norm2(h)))
        return x + self.dropout(h)


class ResidualStack(nn.Module):
    """Residual units with dilations growth**(depth-1) ... growth**0 (largest first)."""

    def __init__(self, channels: int, depth: int, growth: int, activation: str, norm: str | None):
        super().__init__()
        dilations = [growth**d for d in reversed(range(depth))]
        self.model = nn.Sequential(*[ResidualUnit(channels, d, activation, norm) for d in dilations])

    def forward(self, x):
        return self.model(x)


class TimeRoPE(nn.Module):
    """Rotate-half RoPE over frame indices; inv_freq is a saved buffer as in the released weights."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq)

    def forward(self, x):  # (B, H, T, d)
        t = torch.arange(x.shape[2], device=x.device, dtype=torch.float32)
        freqs = torch.outer(t, self.inv_freq)
        angles = torch.cat([freqs, freqs], dim=-1)
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * angles.cos() + rotated * angles.sin()


class AttnBlock(nn.Module):
    """Pre-norm self-attention over time with RoPE, a per-head sigmoid gate and an FFN."""

    def __init__(self, channels: int, num_heads: int = 8, dropout: float = 0.1):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = channels // num_heads
        self.norm1 = nn.LayerNorm(channels)
        self.q_proj = nn.Linear(channels, channels)
        self.k_proj = nn.Linear(channels, channels)
        self.v_proj = nn.Linear(channels, channels)
        self.out_proj = nn.Linear(channels, channels)
        self.rope = TimeRoPE(self.head_dim)
        self.attn_dropout = dropout
        self.gate_proj = nn.Linear(channels, num_heads)
        self.norm2 = nn.LayerNorm(channels)
        self.ffn = nn.Sequential(
            nn.Linear(channels, 4 * channels), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(4 * channels, channels), nn.Dropout(dropout),
        )

    def forward(self, x, lengths):  # x (B, C, T), lengths (B,) valid steps
        x = x.transpose(1, 2)
        B, T, C = x.shape
        h = self.norm1(x)
        q, k, v = (proj(h).view(B, T, self.num_heads, self.head_dim).transpose(1, 2)
                   for proj in (self.q_proj, self.k_proj, self.v_proj))
        q, k = self.rope(q), self.rope(k)
        key_mask = length_mask(lengths, T)[:, None, None, :]  # (B, 1, 1, T)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=key_mask, dropout_p=self.attn_dropout if self.training else 0.0
        )
        gate = torch.sigmoid(self.gate_proj(h)).transpose(1, 2).unsqueeze(-1)  # (B, H, T, 1)
        out = (out * gate).transpose(1, 2).reshape(B, T, C)
        x = x + self.out_proj(out)
        x = x + self.ffn(self.norm2(x))
        return x.transpose(1, 2)


class _NoAttention(nn.Module):
    def forward(self, x, lengths):
        return x


class Encoder(nn.Module):
    """(B, 263, T) -> (B, code_dim, T / unit_length)."""

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        c = config
        self.embed = nn.Sequential(nn.Conv1d(c.dim_pose, c.width, 3, 1, 1), nn.ReLU())
        self.res_blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(c.width, c.width, 2 * c.stride_t, c.stride_t, c.stride_t // 2),
                ResidualStack(c.width, c.depth, c.dilation_growth_rate, c.activation, c.norm),
            )
            for _ in range(c.down_t)
        )
        self.attn_blocks = nn.ModuleList(
            AttnBlock(c.width, c.attn_heads) if c.use_attn else _NoAttention() for _ in range(c.down_t)
        )
        self.outproj = nn.Conv1d(c.width, c.code_dim, 3, 1, 1)
        self.stride = c.stride_t

    def forward(self, x, frame_lengths):
        x = self.embed(x)
        lengths = frame_lengths
        for res_block, attn_block in zip(self.res_blocks, self.attn_blocks):
            x = res_block(x)
            lengths = lengths // self.stride
            x = attn_block(x, lengths)
        return self.outproj(x)


class Decoder(nn.Module):
    """(B, code_dim, T / unit_length) -> (B, T, 263)."""

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        c = config
        self.embed = nn.Sequential(nn.Conv1d(c.code_dim, c.width, 3, 1, 1), nn.ReLU())
        self.res_blocks = nn.ModuleList(
            nn.Sequential(
                ResidualStack(c.width, c.depth, c.dilation_growth_rate, c.activation, c.norm),
                nn.Upsample(scale_factor=c.stride_t, mode="nearest"),
                nn.Conv1d(c.width, c.width, 3, 1, 1),
            )
            for _ in range(c.down_t)
        )
        self.attn_blocks = nn.ModuleList(
            AttnBlock(c.width, c.attn_heads) if c.use_attn else _NoAttention() for _ in range(c.down_t)
        )
        self.outproj = nn.Sequential(
            nn.Conv1d(c.width, c.width, 3, 1, 1), nn.ReLU(), nn.Conv1d(c.width, c.dim_pose, 3, 1, 1)
        )
        self.stride = c.stride_t

    def forward(self, z, latent_lengths):
        x = self.embed(z)
        lengths = latent_lengths
        for res_block, attn_block in zip(self.res_blocks, self.attn_blocks):
            x = res_block(x)
            lengths = lengths * self.stride
            x = attn_block(x, lengths)
        return self.outproj(x).transpose(1, 2)


class HRVQVAE(nn.Module):
    """Tokenizer: normalised features <-> per-scale code indices (and the continuous latent F-hat)."""

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantizer = MultiScaleQuantizer(config)

    def encode_latent(self, motion, frame_lengths):
        """motion (B, T, 263) normalised, zero past each length -> z_e (B, code_dim, T / unit)."""
        return self.encoder(motion.transpose(1, 2).float(), frame_lengths)

    @torch.no_grad()
    def tokenize(self, motion, frame_lengths, perturb_rate=(0.0, 0.0), generator=None):
        """Deterministic nearest-code indices per scale (-1 on padding); see MultiScaleQuantizer.tokenize."""
        z = self.encode_latent(motion, frame_lengths)
        return self.quantizer.tokenize(z, frame_lengths // self.config.unit_length, perturb_rate, generator)

    def decode_latent(self, latent, latent_lengths):
        """latent (B, code_dim, L) -> normalised features (B, L * unit, 263); zeroes the latent past each length."""
        valid = length_mask(latent_lengths, latent.shape[-1])[:, None, :]
        return self.decoder(latent * valid, latent_lengths)

    def decode_indices(self, indices, latent_lengths):
        return self.decode_latent(self.quantizer.latent_from_indices(indices), latent_lengths)

    def forward(self, motion, frame_lengths):
        """Training pass: reconstruction (B, T, 263), commitment loss, perplexity."""
        z = self.encode_latent(motion, frame_lengths)
        latent_lengths = frame_lengths // self.config.unit_length
        quantized, commit_loss, perplexity = self.quantizer(z, latent_lengths)
        return self.decode_latent(quantized, latent_lengths), commit_loss, perplexity

"""Transformer building blocks: AdaLN self-/cross-attention block, text pooling, scale-normalised RoPE."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight).to(x.dtype)


def scale_rope_tables(head_dim: int, patch_sizes: list[int], base: float = 10000.0):
    """cos/sin tables (L, head_dim / 2) for every slot of the multi-scale grid.

    Each scale's slot i sits at round(i * P_last / P_k) on the finest grid, so all scales share one
    time axis. Frequencies are repeated pairwise ([f0, f0, f1, f1, ...]) and applied to (even, odd)
    channel pairs: a quirk of the released weights that must be kept.
    """
    half = head_dim // 2
    inv_freq = 1.0 / (base ** (torch.arange(0, half, 2, dtype=torch.float32) / half))
    finest = patch_sizes[-1]
    positions = torch.cat([
        torch.round(torch.arange(p, dtype=torch.float32) * (finest / float(p))).clamp(0, finest - 1)
        for p in patch_sizes
    ])
    angles = torch.repeat_interleave(torch.outer(positions, inv_freq), 2, dim=-1)  # (L, half)
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    """Rotate (even, odd) channel pairs of x (B, H, L, d) by the angles of cos/sin (L, d / 2)."""
    x32 = x.float()
    even, odd = x32[..., 0::2], x32[..., 1::2]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2).to(x.dtype)


class SelfAttention(nn.Module):
    """Multi-head self-attention with q/v-only biases, RoPE and an optional past key/value cache."""

    def __init__(self, width: int, num_heads: int, attn_drop: float, proj_drop: float, l2_norm: bool):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, width // num_heads
        self.mat_qkv = nn.Linear(width, 3 * width, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(width))
        self.v_bias = nn.Parameter(torch.zeros(width))
        self.l2_norm = l2_norm
        if l2_norm:
            self.scale = 1.0
            self.scale_mul_1H11 = nn.Parameter(torch.full((1, num_heads, 1, 1), 4.0).log())
        else:
            self.scale = 0.25 / math.sqrt(self.head_dim)
        self.proj = nn.Linear(width, width)
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x, cos, sin, attn_bias, past=None):
        """x (B, L, C) at grid slots with rope tables cos/sin (L, d/2); past (k, v) of earlier slots.

        Returns the output and this chunk's (k, v) so that the caller decides what to cache.
        """
        B, L, C = x.shape
        # the bias is added outside mat_qkv so that the int8 path can swap in a quantised Linear
        bias = torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))
        qkv = (self.mat_qkv(x) + bias).view(B, L, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, L, d)
        if self.l2_norm:
            q = F.normalize(q, dim=-1) * self.scale_mul_1H11.clamp(max=math.log(100.0)).exp()
            k = F.normalize(k, dim=-1)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        new_kv = (k, v)
        if past is not None:
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_bias, scale=self.scale,
            dropout_p=self.attn_drop if self.training else 0.0,
        )
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, L, C))), new_kv


class CrossAttention(nn.Module):
    """Queries attend to a padded memory (B, M, kv_dim) under its key mask; k has no bias, v has one."""

    def __init__(self, width: int, kv_dim: int, num_heads: int, proj_drop: float = 0.0):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, width // num_heads
        self.mat_q = nn.Linear(width, width)
        self.mat_kv = nn.Linear(kv_dim, 2 * width, bias=False)
        self.v_bias = nn.Parameter(torch.zeros(width))
        self.proj = nn.Linear(width, width)
        self.proj_drop = nn.Dropout(proj_drop)

    def memory_kv(self, memory):
        """Project the memory once; blocks reuse it for every pass of a generation."""
        B, M, _ = memory.shape
        bias = torch.cat((torch.zeros_like(self.v_bias), self.v_bias))
        kv = F.linear(memory, self.mat_kv.weight, bias).view(B, M, 2, self.num_heads, self.head_dim)
        return kv.permute(2, 0, 3, 1, 4).unbind(0)  # k, v: (B, H, M, d)

    def forward(self, x, memory_kv, memory_mask):
        B, L, C = x.shape
        q = self.mat_q(x).view(B, L, self.num_heads, self.head_dim).transpose(1, 2)
        k, v = memory_kv
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=memory_mask[:, None, None, :])
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, L, C)))


class TextPool(nn.Module):
    """M learned queries cross-attend to the text: the start tokens of the coarsest scale."""

    def __init__(self, text_dim: int, dim: int, num_queries: int):
        super().__init__()
        head_dim = 64 if dim > 4096 else 128
        if dim % head_dim:
            raise ValueError(f"cond_dim {dim} must be a multiple of {head_dim} (text pool heads)")
        self.q_tokens = nn.Parameter(torch.empty(num_queries, dim))
        self.ca = CrossAttention(dim, text_dim, dim // head_dim)

    def forward(self, text, text_mask):
        queries = self.q_tokens[None].expand(text.shape[0], -1, -1)
        return self.ca(queries, self.ca.memory_kv(text), text_mask)


class FFN(nn.Module):
    def __init__(self, width: int, hidden: int, drop: float):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return self.drop(self.fc2(F.gelu(self.fc1(x), approximate="tanh")))


class DropPath(nn.Module):
    """Stochastic depth on the residual branch (training only)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class AdaLNBlock(nn.Module):
    """x += g1 * SA(adaLN(x)); x += CA(LN(x), text); x += g2 * FFN(adaLN(x)); AdaLN from the pooled text."""

    def __init__(self, width, cond_dim, num_heads, mlp_ratio, drop, attn_drop, drop_path, l2_norm,
                 use_crossattn, norm_eps):
        super().__init__()
        self.width = width
        self.attn = SelfAttention(width, num_heads, attn_drop, drop, l2_norm)
        self.use_crossattn = use_crossattn
        if use_crossattn:
            self.ca = CrossAttention(width, cond_dim, num_heads, drop)
            self.ca_norm = nn.LayerNorm(width, eps=norm_eps)
        self.ffn = FFN(width, round(width * mlp_ratio), drop)
        self.norm = nn.LayerNorm(width, eps=norm_eps, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * width))
        self.drop_path = DropPath(drop_path)

    def forward(self, x, cond, cos, sin, attn_bias, text_kv, text_mask, past=None):
        gamma1, gamma2, scale1, scale2, shift1, shift2 = self.ada_lin(cond).view(-1, 1, 6, self.width).unbind(2)
        attn_out, new_kv = self.attn(self.norm(x) * (scale1 + 1) + shift1, cos, sin, attn_bias, past)
        x = x + self.drop_path(attn_out * gamma1)
        if self.use_crossattn:
            x = x + self.ca(self.ca_norm(x), text_kv, text_mask)
        x = x + self.drop_path(self.ffn(self.norm(x) * (scale2 + 1) + shift2) * gamma2)
        return x, new_kv


class AdaLNHead(nn.Module):
    """Condition-modulated LayerNorm before the classifier head."""

    def __init__(self, width: int, cond_dim: int, norm_eps: float):
        super().__init__()
        self.width = width
        self.norm = nn.LayerNorm(width, eps=norm_eps, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 2 * width))

    def forward(self, x, cond):
        scale, shift = self.ada_lin(cond).view(-1, 1, 2, self.width).unbind(2)
        return self.norm(x) * (scale + 1) + shift

"""The next-scale transformer: predicts every token of a temporal scale at once, coarse to fine."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import AdaLNBlock, AdaLNHead, RMSNorm, TextPool, scale_rope_tables
from .config import TransformerConfig
from .quantizer import PAD_ID, downsample

MASK_ID = -2


@dataclass
class TextContext:
    """Everything the blocks need from the text, computed once per generation."""

    sos: torch.Tensor  # (B, P_0, cond_dim) start tokens = scale-0 feature input
    cond: torch.Tensor  # (B, 1, cond_dim) pooled condition for every AdaLN
    block_kv: list  # per block: cross-attention (k, v) of the text memory, or None
    mask: torch.Tensor  # (B, M) bool, valid text tokens


class MoScaleTransformer(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        c = self.config = config
        self.patch_sizes = c.patch_sizes
        self.slot_count = sum(self.patch_sizes)
        if c.use_learned_token_map:
            self.token_emb = nn.Parameter(torch.empty(c.nb_code, c.code_dim))
        self.cfg_uncond = nn.Parameter(torch.empty(c.text_max_length, c.text_dim))
        self.pos_start = nn.Parameter(torch.empty(1, self.patch_sizes[0], c.width))
        self.masked_token_embedding = nn.Parameter(torch.empty(1, c.code_dim))
        self.padded_token_embedding = nn.Parameter(torch.empty(1, c.code_dim))
        self.input_process = nn.Linear(c.code_dim, c.cond_dim)
        self.token_dim_proj = nn.Linear(c.code_dim, c.cond_dim)
        self.latent_dim_proj = nn.Linear(2 * c.cond_dim, c.width)
        self.text_norm = RMSNorm(c.text_dim, c.norm_eps)
        self.text_proj_for_sos = TextPool(c.text_dim, c.cond_dim, self.patch_sizes[0])
        if c.use_crossattn:
            self.text_proj_for_ca = nn.Sequential(
                nn.Linear(c.text_dim, c.cond_dim), nn.GELU(approximate="tanh"), nn.Linear(c.cond_dim, c.cond_dim)
            )
        self.lvl_embed = nn.Embedding(len(self.patch_sizes), c.width)
        last_rate = 0.1 * c.num_layers / 24 if c.drop_path < 0 else c.drop_path
        rates = torch.linspace(0, last_rate, c.num_layers).tolist()
        self.masked_blocks = nn.ModuleList(
            AdaLNBlock(c.width, c.cond_dim, c.num_heads, c.mlp_ratio, c.dropout, c.attn_drop, rate,
                       c.attn_l2_norm, c.use_crossattn, c.norm_eps)
            for rate in rates
        )
        self.head_nm = AdaLNHead(c.width, c.cond_dim, c.norm_eps)
        self.head = nn.Linear(c.width, c.nb_code)

        levels = torch.cat([torch.full((p,), k) for k, p in enumerate(self.patch_sizes)])
        self.register_buffer("slot_level", levels, persistent=False)
        cos, sin = scale_rope_tables(c.head_dim, self.patch_sizes)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.slot_offsets = [sum(self.patch_sizes[:k]) for k in range(len(self.patch_sizes) + 1)]
        self.init_weights()

    # ----------------------------------------------------------------------------------- init
    @torch.no_grad()
    def init_weights(self):
        """The reference initialisation (VAR-style), including its quirks, for training from scratch."""
        c = self.config
        std = math.sqrt(1 / c.cond_dim / 3)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.trunc_normal_(m.weight, std=std)
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.LayerNorm) and m.elementwise_affine:
                m.weight.fill_(1.0)
                m.bias.zero_()
        if c.use_learned_token_map:
            nn.init.trunc_normal_(self.token_emb, std=std)
        nn.init.trunc_normal_(self.pos_start, std=math.sqrt(1 / c.width / 3))
        nn.init.trunc_normal_(self.text_proj_for_sos.q_tokens, std=std)
        for embedding in (self.masked_token_embedding, self.padded_token_embedding):
            nn.init.trunc_normal_(embedding, std=math.sqrt(1 / c.code_dim / 3))
        generator = torch.Generator().manual_seed(0)
        uncond = torch.empty(c.text_max_length, c.text_dim)
        nn.init.trunc_normal_(uncond, std=1.2, generator=generator)
        self.cfg_uncond.copy_(uncond / c.text_dim**0.5)
        self.head.weight.mul_(0.02)
        self.head_nm.ada_lin[-1].weight.mul_(0.5)
        depth_scale = math.sqrt(2 * c.num_layers)
        for block in self.masked_blocks:
            block.attn.proj.weight.div_(depth_scale)
            if block.use_crossattn:
                block.ca.proj.weight.div_(depth_scale)
            block.ffn.fc2.weight.div_(depth_scale)
            ada = block.ada_lin[-1].weight
            ada[: 2 * c.cond_dim].mul_(1e-5)  # the reference scales 2*cond_dim rows, not 2*width
            ada[2 * c.cond_dim:].mul_(0.5)

    # ----------------------------------------------------------------------------------- text
    def text_context(self, text_hidden, text_mask, null_text=None) -> TextContext:
        """text_hidden (B, M, text_dim), text_mask (B, M) bool; null_text (B,) bool rows use the learned null text.

        A null row keeps its prompt's token count: its valid tokens become cfg_uncond[:count].
        """
        text_mask = text_mask.bool()
        if not text_mask.any(-1).all():
            raise ValueError("every prompt needs at least one valid text token")
        hidden = text_hidden.float()
        if null_text is not None:  # even with no null row, so cfg_uncond is always in the graph
            index = (text_mask.long().cumsum(-1) - 1).clamp(0, self.config.text_max_length - 1)
            null = self.cfg_uncond[index] * text_mask[..., None]
            hidden = torch.where(null_text[:, None, None], null, hidden)
        hidden = self.text_norm(hidden)
        sos = self.text_proj_for_sos(hidden, text_mask)
        cond = sos.max(dim=1, keepdim=True).values
        if self.config.use_crossattn:
            memory = self.text_proj_for_ca(hidden)
            block_kv = [block.ca.memory_kv(memory) for block in self.masked_blocks]
        else:
            block_kv = [None] * len(self.masked_blocks)
        return TextContext(sos=sos, cond=cond, block_kv=block_kv, mask=text_mask)

    @staticmethod
    def stack_contexts(first: TextContext, second: TextContext) -> TextContext:
        """Concatenate two contexts along the batch (conditional rows, then unconditional ones)."""
        kv = [None if a is None else (torch.cat((a[0], b[0])), torch.cat((a[1], b[1])))
              for a, b in zip(first.block_kv, second.block_kv)]
        return TextContext(torch.cat((first.sos, second.sos)), torch.cat((first.cond, second.cond)), kv,
                           torch.cat((first.mask, second.mask)))

    # ----------------------------------------------------------------------------------- inputs
    def token_features(self, ids):
        """ids (B, L) with PAD_ID / MASK_ID -> token stream (B, L, cond_dim)."""
        table = self.token_emb if self.config.use_learned_token_map else self.vq_codebook
        embedded = F.embedding(ids.clamp(min=0), table)
        embedded = torch.where((ids == MASK_ID)[..., None], self.masked_token_embedding, embedded)
        embedded = torch.where((ids == PAD_ID)[..., None], self.padded_token_embedding, embedded)
        return self.token_dim_proj(embedded)

    def scale_features(self, f_hat, scale_index):
        """Feature stream of scale k >= 1: the cumulative latent area-resampled to P_k, projected."""
        return self.input_process(downsample(f_hat, self.patch_sizes[scale_index]).transpose(1, 2))

    def fuse(self, features, tokens, start):
        """Merge the two streams of the slots [start, start + L) and add start/level embeddings."""
        h = self.latent_dim_proj(torch.cat((features, tokens), dim=-1))
        first = self.patch_sizes[0]
        if start < first:
            n = min(first - start, h.shape[1])
            h = torch.cat((h[:, :n] + self.pos_start[:, start:start + n], h[:, n:]), dim=1)
        return h + self.lvl_embed(self.slot_level[start:start + h.shape[1]])

    def block_bias(self, query_start, query_len, key_start, key_len, dtype):
        """Additive block-causal bias: a slot sees every slot of its own or a coarser scale."""
        q_level = self.slot_level[query_start:query_start + query_len]
        k_level = self.slot_level[key_start:key_start + key_len]
        allowed = k_level[None, :] <= q_level[:, None]
        if allowed.all():
            return None
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, float("-inf"))

    # ----------------------------------------------------------------------------------- passes
    def run_blocks(self, h, start, context: TextContext, past=None):
        """Blocks over slots [start, start + L); past holds per-layer (k, v) of slots [0, start).

        Returns the hidden states and the per-layer (k, v) of this chunk.
        """
        L = h.shape[1]
        cos, sin = self.rope_cos[start:start + L], self.rope_sin[start:start + L]
        key_start = 0 if past is not None else start
        bias = self.block_bias(start, L, key_start, start + L - key_start, h.dtype)
        new_kv = []
        for i, block in enumerate(self.masked_blocks):
            h, kv = block(h, context.cond, cos, sin, bias, context.block_kv[i], context.mask,
                          None if past is None else past[i])
            new_kv.append(kv)
        return h, new_kv

    def logits(self, h, cond):
        return self.head(self.head_nm(h, cond)).float()

    def forward(self, input_ids, feature_latents, context: TextContext):
        """Teacher-forced pass over the whole grid (training and the uncached reference path).

        input_ids (B, L_total) token-stream ids of every scale (possibly corrupted / masked);
        feature_latents: cumulative latents F-hat after scales 0..K-2, each (B, code_dim, latent_length).
        Returns logits (B, L_total, nb_code): every slot predicts its own token.
        """
        features = [context.sos] + [self.scale_features(f, k + 1) for k, f in enumerate(feature_latents)]
        h = self.fuse(torch.cat(features, dim=1), self.token_features(input_ids), 0)
        h, _ = self.run_blocks(h, 0, context)
        return self.logits(h, context.cond)

    def attach_codebook(self, codebook: torch.Tensor):
        """The tokenizer's codebook, needed for the token stream when there is no learned token map."""
        self.vq_codebook = codebook

"""Multi-scale residual quantizer over temporal scales with one shared EMA codebook."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import TokenizerConfig

PAD_ID = -1


def length_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """(B,) lengths -> (B, size) bool, True on valid steps."""
    return torch.arange(size, device=lengths.device)[None, :] < lengths[:, None]


def downsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """Area (average) resampling of (B, C, T) to `size` steps; the finest scale passes through."""
    return x if x.shape[-1] == size else F.interpolate(x, size=size, mode="area")


def upsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """Linear resampling (align_corners=False) of (B, C, t) to `size` steps."""
    return x if x.shape[-1] == size else F.interpolate(x, size=size, mode="linear")


class Phi(nn.Conv1d):
    """phi(h) = (1 - r) h + r conv3(h): the optional refinement of each scale's upsampled codes."""

    def __init__(self, channels: int, ratio: float):
        super().__init__(channels, channels, 3, 1, 1)
        self.ratio = abs(ratio)

    def forward(self, h):
        return h * (1 - self.ratio) + super().forward(h) * self.ratio


class MultiScaleQuantizer(nn.Module):
    """Quantizes a latent (B, C, L) scale by scale: area-down the residual, nearest code, linear-up, subtract."""

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.config = config
        self.nb_code, self.code_dim, self.mu = config.nb_code, config.code_dim, config.mu
        self.scales = list(config.scales)
        self.register_buffer("codebook", torch.zeros(config.nb_code, config.code_dim))
        n_phi = len(self.scales) if config.share_quant_resi == 0 else config.share_quant_resi
        if abs(config.quant_resi) > 1e-6:
            self.phis = nn.ModuleList(Phi(config.code_dim, config.quant_resi) for _ in range(n_phi))
        else:
            self.phis = nn.ModuleList(nn.Identity() for _ in range(n_phi))
        # which phi serves scale k: the one whose tick is nearest to k / (K - 1)
        ticks = np.linspace(1 / 3 / n_phi, 1 - 1 / 3 / n_phi, n_phi) if n_phi == 4 else \
            np.linspace(1 / 2 / n_phi, 1 - 1 / 2 / n_phi, n_phi)
        at = [k / (len(self.scales) - 1) if len(self.scales) > 1 else 0.0 for k in range(len(self.scales))]
        self.phi_of_scale = [int(np.argmin(np.abs(ticks - a))) for a in at]
        self.ema_ready = False  # EMA state lives outside the state dict, as in the reference

    def phi(self, scale_index: int, h: torch.Tensor) -> torch.Tensor:
        if len(self.scales) == 1:
            return h
        return self.phis[self.phi_of_scale[scale_index]](h)

    def dequantize(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (...,) with -1 for padding -> code vectors (..., code_dim), zero on padding."""
        pad = ids == PAD_ID
        vectors = F.embedding(ids.clamp(min=0), self.codebook)
        return vectors.masked_fill(pad[..., None], 0.0)

    def code_distances(self, vectors: torch.Tensor) -> torch.Tensor:
        """(N, C) -> (N, nb_code) squared L2 distances to every code."""
        return (
            vectors.pow(2).sum(-1, keepdim=True)
            - 2 * vectors @ self.codebook.t()
            + self.codebook.pow(2).sum(-1)[None, :]
        )

    def nearest_code(self, vectors: torch.Tensor) -> torch.Tensor:
        """(N, C) -> (N,) index of the nearest code."""
        return self.code_distances(vectors).argmin(-1)

    def scale_contribution(self, scale_index: int, ids: torch.Tensor, length: int) -> torch.Tensor:
        """Per-scale ids (B, P_k) -> phi(linear_up(codes)) of shape (B, C, length)."""
        codes = self.dequantize(ids).transpose(1, 2)
        return self.phi(scale_index, upsample(codes, length))

    def latent_from_indices(self, indices: list[torch.Tensor]) -> torch.Tensor:
        """F-hat = sum over scales of phi(linear_up(codebook[ids])); padding contributes zero."""
        length = indices[-1].shape[-1]
        return sum(self.scale_contribution(k, ids, length) for k, ids in enumerate(indices))

    @torch.no_grad()
    def tokenize(self, z, latent_lengths, perturb_rate=(0.0, 0.0), generator=None):
        """Nearest-code ids per scale, -1 past each length.

        With perturb_rate (lo, hi) and hi > 0 (training only), each scale's ids are corrupted at a
        rate drawn from U(lo, hi) before the residual is updated, while the returned labels stay the
        clean ids of the (already corrupted) residual: the model learns to correct coarse mistakes.
        Returns (labels, cumulative F-hat after each scale).
        """
        B, _, L = z.shape
        valid_full = length_mask(latent_lengths, L)[:, None, :]
        residual = z.clone()
        f_hat = torch.zeros_like(z)
        labels, f_hats = [], []
        for k, scale in enumerate(self.scales):
            residual = residual * valid_full
            size = L // scale
            down = downsample(residual, size).transpose(1, 2)  # (B, P_k, C)
            ids = self.nearest_code(down.reshape(-1, self.code_dim)).view(B, size)
            valid = length_mask(latent_lengths // scale, size)
            fed_ids = ids
            if perturb_rate[1] > 0:
                fed_ids = perturb_codes(ids, valid, perturb_rate, self.nb_code, generator)
            fed_ids = fed_ids.masked_fill(~valid, PAD_ID)
            labels.append(ids.masked_fill(~valid, PAD_ID))
            contribution = self.scale_contribution(k, fed_ids, L)
            residual = residual - contribution
            f_hat = f_hat + contribution
            f_hats.append(f_hat.clone())
        return labels, f_hats

    def forward(self, z, latent_lengths, temperature: float = 0.5):
        """Training quantization: Gumbel code choice, EMA codebook update, straight-through output.

        The commitment loss matches the reference: per scale, the masked squared error between z and
        the cumulative reconstruction, summed and divided by (valid steps x time length), averaged
        over scales.
        """
        B, C, L = z.shape
        valid_full = length_mask(latent_lengths, L)
        residual = z.clone()
        f_hat = torch.zeros_like(z)
        commit = z.new_zeros(())
        pooled_vectors, pooled_ids = [], []
        for k, scale in enumerate(self.scales):
            residual = residual * valid_full[:, None, :]
            size = L // scale
            down = downsample(residual, size).transpose(1, 2).reshape(-1, C)
            valid = length_mask(latent_lengths // scale, size).reshape(-1)
            if self.training and not self.ema_ready:
                self._init_codebook(down[valid])
            ids = self._sample_codes(down, temperature)
            codes = self.dequantize(ids).masked_fill(~valid[:, None], 0.0)
            contribution = self.phi(k, upsample(codes.view(B, size, C).transpose(1, 2), L))
            residual = residual - contribution
            f_hat = f_hat + contribution
            error = (z - f_hat.detach()).pow(2) * valid_full[:, None, :]
            commit = commit + error.sum() / (valid_full.sum() * L)
            pooled_vectors.append(down[valid])
            pooled_ids.append(ids[valid])
        vectors, ids = torch.cat(pooled_vectors), torch.cat(pooled_ids)
        perplexity = self._update_codebook(vectors, ids) if self.training else self._perplexity(ids)
        quantized = z + (f_hat - z).detach()
        return quantized, commit / len(self.scales), perplexity

    def _sample_codes(self, vectors, temperature):
        """Nearest code; in training a Gumbel-perturbed choice at the given temperature."""
        logits = -self.code_distances(vectors)
        if self.training and temperature > 0:
            uniform = torch.rand_like(logits).clamp(min=1e-20)
            gumbel = -torch.log((-torch.log(uniform)).clamp(min=1e-20))
            logits = logits / temperature + gumbel
        return logits.argmax(-1)

    def _tile(self, vectors):
        if len(vectors) >= self.nb_code:
            return vectors
        repeats = (self.nb_code + len(vectors) - 1) // len(vectors)
        tiled = vectors.repeat(repeats, 1)
        return tiled + torch.randn_like(tiled) * (0.01 / self.code_dim**0.5)

    @torch.no_grad()
    def _init_codebook(self, vectors):
        self.codebook.copy_(self._tile(vectors)[: self.nb_code])
        self.code_sum = self.codebook.clone()
        self.code_count = torch.ones(self.nb_code, device=vectors.device)
        self.ema_ready = True

    @torch.no_grad()
    def _update_codebook(self, vectors, ids):
        onehot = F.one_hot(ids, self.nb_code).type_as(vectors).t()  # (nb_code, N)
        code_sum, code_count = onehot @ vectors, onehot.sum(-1)
        self.code_sum = self.mu * self.code_sum + (1 - self.mu) * code_sum
        self.code_count = self.mu * self.code_count + (1 - self.mu) * code_count
        updated = self.code_sum / self.code_count[:, None]
        if len(ids) > self.nb_code * 5:  # revive dead codes from the batch
            used = (self.code_count >= 1.0).float()[:, None]
            updated = used * updated + (1 - used) * self._tile(vectors)[: self.nb_code]
        self.codebook.copy_(updated)
        return self._perplexity(ids)

    def _perplexity(self, ids):
        counts = torch.bincount(ids, minlength=self.nb_code).float()
        prob = counts / counts.sum().clamp(min=1)
        return torch.exp(-(prob * torch.log(prob + 1e-7)).sum())


def perturb_codes(ids, valid, rate_range, nb_code, generator=None):
    """Swap each valid id, with probability rho ~ U(lo, hi), for a uniformly random *different* id."""
    lo, hi = rate_range
    rate = lo + (hi - lo) * torch.rand((), generator=generator, device=ids.device).item()
    swap = (torch.rand(ids.shape, generator=generator, device=ids.device) < rate) & valid
    other = torch.randint(0, nb_code - 1, ids.shape, generator=generator, device=ids.device)
    other = other + (other >= ids).long()
    return torch.where(swap, other, ids)

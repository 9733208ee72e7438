"""Import of the authors' released checkpoints (`net_best_fid.tar` + YAML + mean/std) into our format.

The `.tar` files are plain `torch.save` dicts of tensors, read with `weights_only=True`; nothing is
unpickled beyond tensors. Sizes come from the YAML files exactly as the authors' code derives them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml

from .model.config import TokenizerConfig, TransformerConfig


class OfficialImportError(ValueError):
    """The official files are missing, malformed or do not match their configuration."""


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise OfficialImportError(f"missing official config {path}")
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise OfficialImportError(f"{path} is not a YAML mapping")
    return data


def _load_tar(path: Path, key_options: tuple[str, ...]) -> dict:
    if not path.is_file():
        raise OfficialImportError(f"missing official weights {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or non-torch file
        raise OfficialImportError(f"cannot read {path}: {exc}") from exc
    for key in key_options:
        if isinstance(blob, dict) and key in blob:
            return blob[key]
    raise OfficialImportError(f"{path} has none of the keys {key_options} (found {list(blob)[:5]})")


def tokenizer_config_from_yaml(data: dict) -> TokenizerConfig:
    try:
        q, m = data["quantizer"], data["model"]
        norm = m.get("vq_norm")
        return TokenizerConfig(
            dim_pose=int(data.get("data", {}).get("dim_pose", 263)),
            width=int(m["width"]), code_dim=int(q["code_dim"]), nb_code=int(q["nb_code"]),
            down_t=int(m["down_t"]), stride_t=int(m["stride_t"]), depth=int(m["depth"]),
            dilation_growth_rate=int(m["dilation_growth_rate"]), activation=str(m.get("vq_act", "relu")),
            norm=None if norm in (None, "None", "none") else str(norm), use_attn=bool(m.get("use_attn", False)),
            scales=[int(s) for s in q["scales"]], mu=float(q.get("mu", 0.99)),
            quant_resi=float(q.get("quant_resi", 0.0)), share_quant_resi=int(q.get("share_quant_resi", 4)),
            max_motion_length=int(data.get("data", {}).get("max_motion_length", 196)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise OfficialImportError(f"train_hrvqvae.yaml lacks or mangles a field: {exc}") from exc


def transformer_config_from_yaml(data: dict, tokenizer: TokenizerConfig) -> TransformerConfig:
    try:
        m, d = data["model"], data.get("data", {})
        if m.get("shared_aln", False):
            raise OfficialImportError("shared_aln checkpoints are not supported")
        max_length = int(d.get("max_motion_length", 196))
        return TransformerConfig(
            code_dim=tokenizer.code_dim, nb_code=tokenizer.nb_code,
            text_dim=int(data["text_embedder"]["dim_embed"]), text_max_length=int(d.get("max_text_length", 20)),
            cond_dim=int(m["latent_dim"]), width=int(m.get("head_latent_dim", m["latent_dim"])),
            num_layers=int(m.get("num_layers", 4)), num_heads=int(m["n_heads"]),
            mlp_ratio=float(m.get("mlp_ratio", 4)), dropout=float(m.get("dropout", 0.1)),
            attn_drop=float(m.get("attn_drop_rate", 0.0)), attn_l2_norm=bool(m.get("attn_l2_norm", True)),
            use_crossattn=bool(m.get("use_crossattn", False)),
            use_learned_token_map=bool(m.get("use_learned_token_map", False)),
            scales=[8, 4, 2, 1],  # fixed in the reference's model construction
            latent_length=max_length // 4,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise OfficialImportError(f"train_moscale.yaml lacks or mangles a field: {exc}") from exc


def tokenizer_state_from_official(state: dict) -> dict:
    """Official HRVQVAE keys -> ours (only the quantizer's phi convs are named differently)."""
    renamed = {}
    for key, value in state.items():
        if key.startswith("quantizer.quant_resi."):
            rest = key[len("quantizer.quant_resi."):]
            rest = rest.removeprefix("qresi_ls.").replace("qresi.", "0.", 1)
            key = "quantizer.phis." + rest
        renamed[key] = value
    return renamed


_TRANSFORMER_DERIVED = ("lvl_1L", "attn_bias_for_masking")


def transformer_state_from_official(state: dict) -> dict:
    """Official MoScale keys -> ours: drop buffers we derive (level ids, mask, zero k-biases)."""
    return {
        key: value for key, value in state.items()
        if key not in _TRANSFORMER_DERIVED and not key.endswith("zero_k_bias")
    }


def load_official(root: Path, vq_name: str | None = None):
    """Read an official checkpoint tree: root/{hrvqvae/<vq_name>, moscale}/… or a folder holding both.

    Accepts either the authors' layout (`root/moscale/train_moscale.yaml` naming `vq_name`) or a
    directory whose `hrvqvae/` and `moscale/` subfolders hold the files directly (the parity fixtures).
    Returns (tokenizer_config, transformer_config, tokenizer_state, transformer_state, mean, std, provenance).
    """
    root = Path(root)
    if not root.is_dir():
        raise OfficialImportError(f"official checkpoint folder {root} does not exist")
    moscale_dir = root / "moscale"
    moscale_yaml = _read_yaml(moscale_dir / "train_moscale.yaml")
    vq_name = vq_name or moscale_yaml.get("vq_name", "hrvqvae")
    vq_dir = root / "hrvqvae" if (root / "hrvqvae" / "train_hrvqvae.yaml").is_file() else root / "hrvqvae" / vq_name
    vq_yaml = _read_yaml(vq_dir / "train_hrvqvae.yaml")
    tokenizer_config = tokenizer_config_from_yaml(vq_yaml)
    transformer_config = transformer_config_from_yaml(moscale_yaml, tokenizer_config)
    vq_file = moscale_yaml.get("vq_ckpt", "net_best_fid.tar")
    tokenizer_state = tokenizer_state_from_official(_load_tar(vq_dir / "model" / vq_file, ("vq_model", "model")))
    transformer_state = transformer_state_from_official(
        _load_tar(moscale_dir / "model" / "net_best_fid.tar", ("moscale",))
    )
    mean, std = _load_stats(root)
    provenance = {
        "source": "official MoScale checkpoint",
        "path": str(root.resolve()),
        "text_encoder_version": moscale_yaml.get("text_embedder", {}).get("version"),
    }
    return tokenizer_config, transformer_config, tokenizer_state, transformer_state, mean, std, provenance


def _load_stats(root: Path):
    candidates = [
        (root / "mean.npy", root / "std.npy"),
        (root / "Mean.npy", root / "Std.npy"),
        (root / "Comp_v6_KLD005" / "meta" / "mean.npy", root / "Comp_v6_KLD005" / "meta" / "std.npy"),
    ]
    for mean_path, std_path in candidates:
        if mean_path.is_file() and std_path.is_file():
            mean, std = np.load(mean_path).astype(np.float32), np.load(std_path).astype(np.float32)
            if mean.shape != (263,) or std.shape != (263,):
                raise OfficialImportError(f"{mean_path.name}/{std_path.name} must hold 263 values each")
            return mean, std
    raise OfficialImportError(
        f"no normalisation statistics in {root}: expected mean.npy/std.npy (or Comp_v6_KLD005/meta/)"
    )


def import_official(source: Path, out: Path, name: str = "moscale-official", text_encoder_path: Path | None = None):
    """Convert an official checkpoint tree into our checkpoint directory (see docs/checkpoints.md)."""
    from .checkpoint import MoScaleModel, save_checkpoint
    from .model.loading import build_tokenizer, build_transformer
    from .text.encoders import TextEncoderSpec

    tok_cfg, tr_cfg, tok_state, tr_state, mean, std, provenance = load_official(source)
    tokenizer = build_tokenizer(tok_cfg, tok_state)
    transformer = build_transformer(tr_cfg, tr_state, tokenizer)
    spec = TextEncoderSpec(kind="t5", path=None if text_encoder_path is None else str(text_encoder_path),
                           max_length=tr_cfg.text_max_length, dim=tr_cfg.text_dim)
    model = MoScaleModel(tokenizer, transformer, mean, std, spec, name=name, provenance=provenance)
    return save_checkpoint(model, out)

"""Architecture configs of the tokenizer and the transformer (every size comes from here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


def _from_dict(cls, data: dict):
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}")
    return cls(**data)


@dataclass
class TokenizerConfig:
    """HRVQVAE: 1-D conv encoder/decoder with attention blocks and a multi-scale residual quantizer."""

    dim_pose: int = 263
    width: int = 512
    code_dim: int = 512
    nb_code: int = 512
    down_t: int = 2
    stride_t: int = 2
    depth: int = 3
    dilation_growth_rate: int = 3
    activation: str = "relu"  # relu | silu | gelu | leakyrelu
    norm: str | None = None  # None | LN | GN | BN
    use_attn: bool = True
    attn_heads: int = 8
    scales: list[int] = field(default_factory=lambda: [8, 4, 2, 1])
    mu: float = 0.99  # EMA decay of the codebook
    quant_resi: float = 0.0  # phi(h) = (1 - r) h + r conv(h); 0 makes every phi the identity
    share_quant_resi: int = 4  # 0: one phi per scale, 1: one shared phi, n: n phis picked by tick
    max_motion_length: int = 196  # frames per pass

    @property
    def unit_length(self) -> int:
        """Frames per latent step."""
        return self.stride_t**self.down_t

    @property
    def latent_length(self) -> int:
        return self.max_motion_length // self.unit_length

    @property
    def patch_sizes(self) -> list[int]:
        return [self.latent_length // s for s in self.scales]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TokenizerConfig":
        return _from_dict(cls, data)


@dataclass
class TransformerConfig:
    """Next-scale transformer. `cond_dim` is the paper's latent_dim, `width` its head_latent_dim."""

    code_dim: int = 512  # tokenizer code width
    nb_code: int = 512  # classes of the head
    text_dim: int = 768  # hidden size of the text encoder
    text_max_length: int = 20  # text tokens kept (rows of the learned null text)
    cond_dim: int = 384  # text / AdaLN condition width
    width: int = 768  # block width
    num_layers: int = 16
    num_heads: int = 8
    mlp_ratio: float = 4.0
    dropout: float = 0.1
    attn_drop: float = 0.0
    drop_path: float = -1.0  # last block's drop-path rate; < 0 means the reference's 0.1 * layers / 24
    attn_l2_norm: bool = False
    use_crossattn: bool = True
    use_learned_token_map: bool = True  # token stream from a learned table (else the VQ codebook)
    norm_eps: float = 1e-6
    scales: list[int] = field(default_factory=lambda: [8, 4, 2, 1])
    latent_length: int = 49  # finest scale length = max frames / unit length

    @property
    def patch_sizes(self) -> list[int]:
        return [self.latent_length // s for s in self.scales]

    @property
    def head_dim(self) -> int:
        return self.width // self.num_heads

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TransformerConfig":
        return _from_dict(cls, data)


def paper_configs(text_dim: int = 768) -> tuple[TokenizerConfig, TransformerConfig]:
    """The released model's sizes (about 32 M + 174 M parameters)."""
    return TokenizerConfig(), TransformerConfig(text_dim=text_dim)


def small_configs(text_dim: int = 384) -> tuple[TokenizerConfig, TransformerConfig]:
    """A CPU-friendly size for our own default model and for tests that need a real-ish model."""
    tokenizer = TokenizerConfig(width=256, code_dim=256, nb_code=512, depth=3)
    transformer = TransformerConfig(
        code_dim=256, nb_code=512, text_dim=text_dim, cond_dim=256, width=384, num_layers=6, num_heads=6
    )
    return tokenizer, transformer


def default_configs(text_dim: int = 384) -> tuple[TokenizerConfig, TransformerConfig]:
    """The size of our shipped model: trains on this 2-core CPU in about two hours, generates in well
    under a second, and fits the package in fp16 (about 4.6 M + 6.8 M parameters)."""
    tokenizer = TokenizerConfig(width=192, code_dim=128, nb_code=512, depth=3)
    transformer = TransformerConfig(
        code_dim=128, nb_code=512, text_dim=text_dim, cond_dim=256, width=256, num_layers=4, num_heads=4
    )
    return tokenizer, transformer


def tiny_configs(text_dim: int = 48) -> tuple[TokenizerConfig, TransformerConfig]:
    """Unit-test size: builds and runs in milliseconds."""
    tokenizer = TokenizerConfig(width=32, code_dim=16, nb_code=32, depth=2)
    transformer = TransformerConfig(
        code_dim=16, nb_code=32, text_dim=text_dim, cond_dim=128, width=32, num_layers=2, num_heads=2
    )
    return tokenizer, transformer


PRESETS = {"paper": paper_configs, "default": default_configs, "small": small_configs, "tiny": tiny_configs}

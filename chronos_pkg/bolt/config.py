"""The ``chronos_config`` block of a Chronos-Bolt checkpoint's ``config.json``.

As for Chronos-T5, the network's size is not here: it comes from the T5 config beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from chronos_pkg.bolt.seasonal import GATE_KINDS
from chronos_pkg.inputs import DEFAULT_QUANTILE_LEVELS


def _default_quantiles() -> list[float]:
    return list(DEFAULT_QUANTILE_LEVELS)


@dataclass(frozen=True)
class ChronosBoltConfig:
    """Settings stored as ``chronos_config`` in a Chronos-Bolt ``config.json``.

    Defaults are those of the published Chronos-Bolt checkpoints.
    """

    context_length: int = 2048
    prediction_length: int = 64
    input_patch_size: int = 16
    input_patch_stride: int = 16
    quantiles: list[float] = field(default_factory=_default_quantiles)
    use_reg_token: bool = True
    # this package's extension (not in the published format): a detected-period reference added
    # to the quantile head by a learned gate (chronos_pkg.bolt.seasonal); written only when on
    seasonal_reference: bool = False
    # the gate acts only on series with a detected period (the rest: the network's forecast)
    seasonal_mask: bool = False
    # which gate (chronos_pkg.bolt.seasonal.GATE_KINDS): "additive" (free weights and blend) or
    # "mix" (a trust that moves the median towards a mixture of references); written when not
    # "additive"
    seasonal_gate: str = "additive"

    def __post_init__(self) -> None:
        for name in ("context_length", "prediction_length", "input_patch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.input_patch_stride != self.input_patch_size:
            raise ValueError(
                "patches must not overlap: input_patch_stride "
                f"({self.input_patch_stride}) must equal input_patch_size ({self.input_patch_size})"
            )
        levels = [float(q) for q in self.quantiles]
        if not levels:
            raise ValueError("quantiles is empty")
        if not all(0.0 < q < 1.0 for q in levels):
            raise ValueError(f"quantiles must lie strictly between 0 and 1, got {levels}")
        if any(b <= a for a, b in zip(levels, levels[1:])):
            raise ValueError(f"quantiles must be strictly increasing, got {levels}")
        for name in ("use_reg_token", "seasonal_reference", "seasonal_mask"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.seasonal_mask and not self.seasonal_reference:
            raise ValueError("seasonal_mask needs seasonal_reference (the gate it masks)")
        if self.seasonal_gate not in GATE_KINDS:
            raise ValueError(
                f"seasonal_gate must be one of {GATE_KINDS}, got {self.seasonal_gate!r}"
            )
        if self.seasonal_gate != "additive" and not self.seasonal_reference:
            raise ValueError("seasonal_gate needs seasonal_reference (the gate it chooses)")
        object.__setattr__(self, "quantiles", levels)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready ``chronos_config`` mapping: exactly the published keys, plus
        ``seasonal_reference`` (and ``seasonal_mask``, ``seasonal_gate``) when on (a checkpoint the
        published package cannot run)."""
        data = asdict(self)
        for name in ("seasonal_reference", "seasonal_mask"):
            if not data[name]:
                del data[name]
        if data["seasonal_gate"] == "additive":
            del data["seasonal_gate"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChronosBoltConfig:
        """Build from a ``chronos_config`` mapping; unknown keys are an error, not ignored."""
        if not isinstance(data, Mapping):
            raise TypeError(f"chronos_config must be a mapping, got {type(data).__name__}")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown Chronos-Bolt chronos_config keys: {sorted(unknown)}")
        return cls(**data)

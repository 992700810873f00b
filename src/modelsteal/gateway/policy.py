"""The gateway's policy: tiers (limits, price, output mode), request limits, logging.

A policy is a YAML file; every field has a default, so an empty file is the default
policy::

    tiers:
      default:
        key_limits: ["1000/hour", "10000/day"]   # rows, per API key
        ip_limits: ["5000/hour", "50000/day"]    # rows, per client address
        price_per_row: 0.001
        output: {kind: probabilities, k: 1, decimals: null}
        transforms: []                           # e.g. [{mad: {epsilon: 0.5, argmax: true}}]
        proof_of_work: null                      # e.g. {base_bits: 5, uncertain_bits: 5, alarm_bits: 8}
    max_batch_rows: 1000
    max_body_bytes: 2000000
    out_of_space: refuse        # or clip
    allow_missing: false        # answer incomplete queries (null features) where the model can
    image_input: resize         # POST /predict: resize any image to the model's size, or refuse
    store_inputs: false
    detection:                  # absent: no monitoring; {} : every detector with its defaults
      detectors:
        prada: {delta: 0.85, action: flag}
        unique_share: {threshold: 0.9, action: log}
        narrow_range: {threshold: 0.5, action: throttle}
        boundary: {threshold: 0.15, action: degrade}
        single_class: {threshold: 0.8, action: flag}
        coverage: {threshold: 0.8, action: flag}
      groups: [ip_prefix, creation_burst]
      throttle_limits: ["100/hour"]
      degrade_output: label     # what a degraded client sees
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from modelsteal.defenses.detectors import DetectionConfig
from modelsteal.defenses.proof_of_work import ProofOfWork
from modelsteal.defenses.transforms import Transform, parse_transforms
from modelsteal.errors import InvalidInput
from modelsteal.oracle.answers import OutputMode
from modelsteal.row_limits import check_limit
from modelsteal.yaml_files import yaml_error_line


@dataclass(frozen=True)
class Tier:
    """What one class of API keys may do and what it pays."""

    name: str
    key_limits: tuple[str, ...] = ("1000/hour", "10000/day")
    ip_limits: tuple[str, ...] = ("5000/hour", "50000/day")
    price_per_row: float = 0.001
    output: OutputMode = field(default_factory=OutputMode)
    #: answer-side defences applied in order before the output mode (defenses/transforms.py)
    transforms: tuple[Transform, ...] = ()
    #: a HashCash puzzle before each answer, harder as the client takes more (proof_of_work.py)
    proof_of_work: ProofOfWork | None = None

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any], *, base_dir: Path | None = None) -> Tier:
        if not isinstance(data, dict):
            raise InvalidInput(f"tier {name!r} must be a mapping")
        known = {"key_limits", "ip_limits", "price_per_row", "output", "transforms", "proof_of_work"}
        unknown = set(data) - known
        if unknown:
            raise InvalidInput(f"tier {name!r} has unknown fields: {', '.join(sorted(unknown))}")
        default = cls(name)
        price = float(data.get("price_per_row", default.price_per_row))
        if price < 0:
            raise InvalidInput(f"tier {name!r}: price_per_row must be >= 0")
        return cls(
            name=name,
            key_limits=tuple(check_limit(x) for x in data.get("key_limits", default.key_limits)),
            ip_limits=tuple(check_limit(x) for x in data.get("ip_limits", default.ip_limits)),
            price_per_row=price,
            output=OutputMode.from_dict(data.get("output", {})),
            transforms=tuple(
                parse_transforms(
                    data.get("transforms"), where=f"tier {name!r}: transforms", base_dir=base_dir
                )
            ),
            proof_of_work=ProofOfWork.from_dict(data["proof_of_work"])
            if data.get("proof_of_work") is not None
            else None,
        )


@dataclass(frozen=True)
class Policy:
    """Everything the gateway enforces, assembled from YAML or built in code."""

    tiers: dict[str, Tier] = field(default_factory=lambda: {"default": Tier("default")})
    max_batch_rows: int = 1000
    max_body_bytes: int = 2_000_000
    out_of_space: Literal["refuse", "clip"] = "refuse"
    allow_missing: bool = False
    image_input: Literal["resize", "refuse"] = "resize"
    store_inputs: bool = False
    detection: DetectionConfig | None = None

    def tier(self, name: str) -> Tier:
        tier = self.tiers.get(name)
        if tier is None:
            raise InvalidInput(f"unknown tier {name!r}; the policy has: {', '.join(self.tiers)}")
        return tier

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, *, base_dir: Path | None = None) -> Policy:
        """A policy from its YAML mapping; paths in it are read from ``base_dir`` when relative."""
        data = data or {}
        if not isinstance(data, dict):
            raise InvalidInput("a policy must be a YAML mapping")
        known = {
            "tiers",
            "max_batch_rows",
            "max_body_bytes",
            "out_of_space",
            "allow_missing",
            "image_input",
            "store_inputs",
            "detection",
        }
        unknown = set(data) - known
        if unknown:
            raise InvalidInput(f"unknown policy fields: {', '.join(sorted(unknown))}")
        tiers_data = data.get("tiers") or {"default": {}}
        tiers = {
            str(name): Tier.from_dict(str(name), spec or {}, base_dir=base_dir)
            for name, spec in tiers_data.items()
        }
        if "default" not in tiers:
            tiers["default"] = Tier("default")
        out_of_space = data.get("out_of_space", "refuse")
        if out_of_space not in ("refuse", "clip"):
            raise InvalidInput("out_of_space must be refuse or clip")
        image_input = data.get("image_input", "resize")
        if image_input not in ("resize", "refuse"):
            raise InvalidInput("image_input must be resize or refuse")
        policy = cls(
            tiers=tiers,
            max_batch_rows=int(data.get("max_batch_rows", 1000)),
            max_body_bytes=int(data.get("max_body_bytes", 2_000_000)),
            out_of_space=out_of_space,
            allow_missing=bool(data.get("allow_missing", False)),
            image_input=image_input,
            store_inputs=bool(data.get("store_inputs", False)),
            detection=DetectionConfig.from_dict(data["detection"]) if "detection" in data else None,
        )
        if policy.max_batch_rows < 1 or policy.max_body_bytes < 1024:
            raise InvalidInput("max_batch_rows must be >= 1 and max_body_bytes >= 1024")
        return policy

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            raise InvalidInput(f"policy file {path} does not exist") from None
        try:
            return cls.from_dict(yaml.safe_load(text), base_dir=Path(path).resolve().parent)
        except InvalidInput as exc:
            raise InvalidInput(f"policy file {path}: {exc}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"policy file {path}: a field has a value of the wrong type ({exc})") from None
        except yaml.YAMLError as exc:
            raise InvalidInput(f"policy file {path} is not valid YAML: {yaml_error_line(exc)}") from None

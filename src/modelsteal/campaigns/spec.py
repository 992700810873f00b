"""A campaign file: victims × policies × attacks × budgets × seeds, read and checked.

The file is YAML::

    name: my-grid
    transport: in-process        # or http: a gateway served on loopback for the run
    victims:                      # name -> how to get it
      digits-cnn: {train: {dataset: digits, family: cnn, victim_rows: 449, epochs: 20}}
      mine: {path: models/mine}   # a model directory (modelsteal train / import)
      theirs: {url: "http://host/v1/models/x", api_key_env: THEIR_KEY, eval: models/theirs}
    policies:                     # name -> a gateway policy (the `serve --policy` YAML), or {file: ...}
      open: {tiers: {default: {key_limits: ["1000000/day"], price_per_row: 0.001}}, detection: {}}
      labels: {file: policies/labels.yaml}
    attacks:                      # name -> an attack, its options, its pool, its own budgets
      knockoff: {attack: knockoff, pool: in-distribution}
      eq: {attack: equation-solving, budgets: [700]}
    budgets: [250, 1000]
    seeds: [0, 1, 2]
    exclude: [{victim: mine, attack: knockoff}]   # cells matching any rule are left out
    include: []                   # when given, only cells matching one of these rules are kept
    honest: {clients: 10, queries: 200}           # honest traffic per victim × policy × seed
    comparisons:                  # victims the report compares attack by attack
      - {name: supervised vs semi-supervised, victims: [digits-cnn, digits-cnn-semi]}

Every error names the field and the fix. Pairs that cannot run (equation solving against
a labels-only tier, or against a network) become *skipped* cells with the reason; a
remote victim is played as served (its own server applies its defences), so its cells
have the policy ``served``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelsteal.catalog import MODEL_FAMILIES, POOL_KINDS
from modelsteal.errors import InvalidInput, UnsupportedOracle
from modelsteal.ownership.null import MIN_INDEPENDENTS
from modelsteal.registry import OWNERSHIP_METHODS
from modelsteal.yaml_files import read_yaml

#: the policy of a remote victim's cells: whatever its own server enforces
SERVED = "served"
TRANSPORTS = ("in-process", "http")
RULE_FIELDS = ("victim", "policy", "attack", "budget", "seed")
TOP_FIELDS = {
    "name",
    "transport",
    "victims",
    "policies",
    "attacks",
    "budgets",
    "seeds",
    "exclude",
    "include",
    "honest",
    "comparisons",
    "n_uniform",
    "description",
    "ownership",
}
#: what `train:` may hold besides the TrainOptions fields
TRAIN_FIELDS = {"dataset", "family", "seed", "victim_rows", "labelled_rows", "options"}
DEFAULT_N_UNIFORM = 2000


def canonical(value: Any) -> str:
    """JSON with sorted keys: the same content always gives the same text (and id)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def content_id(value: Any, n: int = 16) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()[:n]


@dataclass(frozen=True)
class VictimSpec:
    name: str
    source: str  # train | path | url
    params: dict[str, Any]

    def content(self) -> dict[str, Any]:
        return {"name": self.name, self.source: self.params}


@dataclass(frozen=True)
class PolicySpec:
    name: str
    policy: dict[str, Any]
    tier: str = "default"

    def content(self) -> dict[str, Any]:
        return {"name": self.name, "policy": self.policy, "tier": self.tier}


@dataclass(frozen=True)
class AttackSpec:
    name: str
    attack: str
    options: dict[str, Any]
    pool: str | None
    budgets: tuple[int, ...] | None

    def content(self) -> dict[str, Any]:
        return {"name": self.name, "attack": self.attack, "options": self.options, "pool": self.pool}


@dataclass(frozen=True)
class Cell:
    """One run: an attack (or honest traffic) against a victim behind a policy, at a budget and seed."""

    kind: str  # attack | honest
    victim: VictimSpec
    policy: PolicySpec | None  # None: a remote victim, played as served
    attack: AttackSpec | None  # None for honest traffic
    budget: int
    seed: int
    transport: str
    n_uniform: int
    honest: dict[str, int] = field(default_factory=dict)
    #: verify each stolen copy: {methods, zoo, families, alpha, queries}; empty: no verification
    ownership: dict[str, Any] = field(default_factory=dict)

    @property
    def policy_name(self) -> str:
        return SERVED if self.policy is None else self.policy.name

    @property
    def attack_name(self) -> str:
        return "honest" if self.attack is None else self.attack.name

    def content(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "victim": self.victim.content(),
            "policy": None if self.policy is None else self.policy.content(),
            "attack": None if self.attack is None else self.attack.content(),
            "budget": self.budget,
            "seed": self.seed,
            "transport": self.transport,
            "n_uniform": self.n_uniform,
            "honest": self.honest,
            **({"ownership": self.ownership} if self.ownership else {}),
        }

    @property
    def id(self) -> str:
        """Stable across runs and machines: a hash of everything that decides the result."""
        return content_id(self.content())

    def label(self) -> str:
        return (
            f"{self.victim.name} / {self.policy_name} / {self.attack_name} / {self.budget} / seed {self.seed}"
        )

    def matches(self, rule: Mapping[str, Any]) -> bool:
        values = {
            "victim": self.victim.name,
            "policy": self.policy_name,
            "attack": self.attack_name,
            "budget": self.budget,
            "seed": self.seed,
        }
        for key, wanted in rule.items():
            allowed = wanted if isinstance(wanted, list) else [wanted]
            if values[key] not in allowed:
                return False
        return True


@dataclass(frozen=True)
class Skipped:
    cell: Cell
    reason: str


@dataclass(frozen=True)
class Comparison:
    name: str
    victims: tuple[str, ...]
    claim: str = ""


@dataclass(frozen=True)
class Campaign:
    name: str
    path: Path | None
    transport: str
    victims: tuple[VictimSpec, ...]
    policies: tuple[PolicySpec, ...]
    attacks: tuple[AttackSpec, ...]
    budgets: tuple[int, ...]
    seeds: tuple[int, ...]
    exclude: tuple[dict[str, Any], ...] = ()
    include: tuple[dict[str, Any], ...] = ()
    honest: dict[str, int] | None = None
    comparisons: tuple[Comparison, ...] = ()
    n_uniform: int = DEFAULT_N_UNIFORM
    description: str = ""
    ownership: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The campaign's content: a store written for another content is refused."""
        return content_id(
            {
                "name": self.name,
                "cells": sorted(c.id for c in self.grid()),
            }
        )

    def grid(self) -> Iterator[Cell]:
        """Every cell the rules keep, runnable or not (in a stable order)."""
        for victim in self.victims:
            policies: list[PolicySpec | None] = [None] if victim.source == "url" else list(self.policies)
            for policy in policies:
                if self.honest:
                    for seed in self.seeds:
                        cell = Cell(
                            "honest",
                            victim,
                            policy,
                            None,
                            self.honest["clients"] * self.honest["queries"],
                            seed,
                            self.transport,
                            self.n_uniform,
                            dict(self.honest),
                        )
                        if self._kept(cell):
                            yield cell
                for attack in self.attacks:
                    for budget in attack.budgets or self.budgets:
                        for seed in self.seeds:
                            cell = Cell(
                                "attack",
                                victim,
                                policy,
                                attack,
                                budget,
                                seed,
                                self.transport,
                                self.n_uniform,
                                ownership=self.ownership if victim.source != "url" else {},
                            )
                            if self._kept(cell):
                                yield cell

    def _kept(self, cell: Cell) -> bool:
        if any(cell.matches(rule) for rule in self.exclude):
            return False
        return not self.include or any(cell.matches(rule) for rule in self.include)

    def plan(self) -> tuple[list[Cell], list[Skipped]]:
        """The cells to run and the cells that cannot run, each with its reason.

        A budget below an attack's minimum for a victim is an error of the file, not a skip:
        the user asked for something that cannot mean what they think.
        """
        runnable: list[Cell] = []
        skipped: list[Skipped] = []
        infos: dict[tuple[str, str], Any] = {}
        for cell in self.grid():
            if cell.attack is None or cell.victim.source == "url":
                runnable.append(cell)  # a remote API's outputs are known only when asked
                continue
            key = (cell.victim.name, cell.policy_name)
            if key not in infos:
                infos[key] = planned_info(cell.victim, cell.policy, self.path)
            info = infos[key]
            attacker = make_planned_attack(cell.attack)
            reason = family_mismatch(cell.attack.attack, info.family)
            if reason is None:
                try:
                    attacker.check_oracle(info)
                except (UnsupportedOracle, InvalidInput) as exc:
                    reason = str(exc).split(";")[0]
            if reason is not None:
                skipped.append(Skipped(cell, reason))
                continue
            minimum = attacker.min_queries(info)
            if cell.budget < minimum:
                raise InvalidInput(
                    f"{self._where()}: attack {cell.attack.name!r} needs at least {minimum} queries against "
                    f"victim {cell.victim.name!r}, but a budget is {cell.budget}; raise the budget, give the "
                    f"attack its own 'budgets:', or exclude the pair"
                )
            runnable.append(cell)
        return runnable, skipped

    def _where(self) -> str:
        return str(self.path) if self.path is not None else "the campaign"


# ---------------------------------------------------------------------- reading


def load_campaign(path: str | Path) -> Campaign:
    """Read and check a campaign file; paths in it are relative to the file."""
    path = Path(path)
    data = read_yaml(path, "campaign file")
    return campaign_from_dict(data, path=path)


def _check_top_fields(data: Any, where: str, fail: Any) -> None:
    """A mapping, no unknown field, and the three a campaign cannot do without."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{where} must be a YAML mapping with victims, policies, attacks, budgets, seeds")
    unknown = sorted(set(data) - TOP_FIELDS)
    if unknown:
        raise fail(unknown[0], f"unknown field; a campaign has {', '.join(sorted(TOP_FIELDS))}")
    for required in ("victims", "attacks", "budgets"):
        if not data.get(required):
            raise fail(required, "missing or empty; see `modelsteal campaign --help` for the format")


def campaign_from_dict(data: Any, *, path: Path | None = None) -> Campaign:
    where = str(path) if path is not None else "the campaign"
    base = path.resolve().parent if path is not None else Path.cwd()

    def fail(field_name: str, fix: str) -> InvalidInput:
        return InvalidInput(f"{where}: {field_name}: {fix}")

    _check_top_fields(data, where, fail)
    transport = str(data.get("transport", "in-process"))
    if transport not in TRANSPORTS:
        raise fail("transport", f"{transport!r} is neither of {', '.join(TRANSPORTS)}")
    victims = tuple(_victim(str(n), spec, base, fail) for n, spec in _mapping(data, "victims", fail).items())
    policies_data = data.get("policies") or {"open": None}
    if not isinstance(policies_data, dict):
        raise fail("policies", "a mapping of names to gateway policies")
    policies = tuple(_policy(str(n), spec, base, fail) for n, spec in policies_data.items())
    if any(p.name == SERVED for p in policies):
        raise fail(f"policies.{SERVED}", "the name is kept for remote victims; choose another")
    attacks = tuple(_attack(str(n), spec, fail) for n, spec in _mapping(data, "attacks", fail).items())
    budgets = _ints(data.get("budgets"), "budgets", fail, minimum=1)
    seeds = _ints(data.get("seeds", [0]), "seeds", fail, minimum=0)
    names = {
        "victim": {v.name for v in victims},
        "policy": {p.name for p in policies} | {SERVED},
        "attack": {a.name for a in attacks} | {"honest"},
    }
    exclude = tuple(_rule(r, f"exclude[{i}]", names, fail) for i, r in enumerate(data.get("exclude") or []))
    include = tuple(_rule(r, f"include[{i}]", names, fail) for i, r in enumerate(data.get("include") or []))
    honest = _honest(data.get("honest"), fail)
    comparisons = tuple(
        _comparison(c, f"comparisons[{i}]", names["victim"], fail)
        for i, c in enumerate(data.get("comparisons") or [])
    )
    n_uniform = _ints([data.get("n_uniform", DEFAULT_N_UNIFORM)], "n_uniform", fail, minimum=0)[0]
    ownership = _ownership(data.get("ownership"), victims, fail)
    name = str(data.get("name") or (path.stem if path is not None else "campaign"))
    campaign = Campaign(
        name=name,
        path=path,
        transport=transport,
        victims=victims,
        policies=policies,
        attacks=attacks,
        budgets=budgets,
        seeds=seeds,
        exclude=exclude,
        include=include,
        honest=honest,
        comparisons=comparisons,
        n_uniform=n_uniform,
        description=str(data.get("description") or ""),
        ownership=ownership,
    )
    if not any(True for _ in campaign.grid()):
        raise fail("include/exclude", "the rules leave no cell to run")
    return campaign


def _mapping(data: dict[str, Any], key: str, fail: Any) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict) or not value:
        raise fail(key, "a mapping of names to specs")
    return value


def _ints(value: Any, key: str, fail: Any, *, minimum: int) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or item < minimum:
            raise fail(key, f"{item!r} is not a whole number >= {minimum}")
        out.append(int(item))
    if not out:
        raise fail(key, "give at least one value")
    return tuple(dict.fromkeys(out))


def _trained_victim(name: str, params: Any, where: str, fail: Any) -> VictimSpec:
    """``victims.NAME.train``: a bundled data set, a family and TrainOptions."""
    if not isinstance(params, dict):
        raise fail(f"{where}.train", "a mapping with dataset and family")
    unknown = sorted(set(params) - TRAIN_FIELDS)
    if unknown:
        raise fail(f"{where}.train.{unknown[0]}", f"unknown; train takes {', '.join(sorted(TRAIN_FIELDS))}")
    from modelsteal.datasets import dataset_names

    if params.get("dataset") not in dataset_names():
        raise fail(f"{where}.train.dataset", f"choose one of {', '.join(dataset_names())}")
    if params.get("family") not in MODEL_FAMILIES:
        raise fail(f"{where}.train.family", f"choose one of {', '.join(MODEL_FAMILIES)}")
    options = params.get("options") or {}
    from modelsteal.victims.training import TrainOptions

    try:
        TrainOptions(**options)
    except TypeError as exc:
        raise fail(f"{where}.train.options", f"{exc}; see `modelsteal train --help`") from None
    for key in ("victim_rows", "labelled_rows"):
        if key in params:
            _ints([params[key]], f"{where}.train.{key}", fail, minimum=10)
    return VictimSpec(name, "train", {"seed": 0, **params, "options": dict(options)})


def _victim(name: str, spec: Any, base: Path, fail: Any) -> VictimSpec:
    where = f"victims.{name}"
    if not isinstance(spec, dict):
        raise fail(where, "give one of train: {...}, path: DIR or url: URL")
    sources = [k for k in ("train", "path", "url") if k in spec]
    if len(sources) != 1:
        raise fail(where, "give exactly one of train: {...}, path: DIR or url: URL")
    source = sources[0]
    if source == "train":
        return _trained_victim(name, spec["train"], where, fail)
    if source == "path":
        target = Path(str(spec["path"]))
        target = target if target.is_absolute() else base / target
        if not target.exists():
            raise fail(f"{where}.path", f"{target} does not exist; give a model directory (modelsteal train)")
        if not target.is_dir():
            raise fail(f"{where}.path", f"{target} is not a model directory (modelsteal train or import)")
        return VictimSpec(name, "path", {"path": str(target)})
    url = str(spec["url"])
    if not url.startswith(("http://", "https://")):
        raise fail(f"{where}.url", "an http:// or https:// address")
    unknown = sorted(set(spec) - {"url", "api_key_env", "protocol", "eval", "template", "feature_space"})
    if unknown:
        raise fail(
            f"{where}.{unknown[0]}", "unknown; a url victim takes api_key_env, protocol, eval, template"
        )
    params = {k: str(v) for k, v in spec.items()}
    for key in ("eval", "template", "feature_space"):
        if key in params and not Path(params[key]).is_absolute():
            params[key] = str(base / params[key])
    if "eval" not in params:
        raise fail(
            f"{where}.eval", "a remote victim needs eval: DIR (the model directory that judges fidelity)"
        )
    if not (Path(params["eval"]) / "card.json").is_file():
        raise fail(f"{where}.eval", f"{params['eval']} is not a model directory (modelsteal train or import)")
    return VictimSpec(name, "url", params)


def _policy(name: str, spec: Any, base: Path, fail: Any) -> PolicySpec:
    from modelsteal.gateway.policy import Policy

    where = f"policies.{name}"
    tier = "default"
    if isinstance(spec, dict) and "file" in spec:
        tier = str(spec.get("tier", "default"))
        target = Path(str(spec["file"]))
        target = target if target.is_absolute() else base / target
        if not target.is_file():
            raise fail(f"{where}.file", f"{target} does not exist")
        spec = read_yaml(target, "policy file") or {}
    elif isinstance(spec, dict) and "tier" in spec and "tiers" in spec:
        spec = dict(spec)
        tier = str(spec.pop("tier"))
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise fail(where, "a gateway policy (the YAML `serve --policy` reads) or {file: PATH}")
    try:
        Policy.from_dict(spec, base_dir=base).tier(tier)
    except InvalidInput as exc:
        raise fail(where, str(exc)) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise fail(where, f"a field has a value of the wrong type ({exc})") from None
    return PolicySpec(name, spec, tier)


def _attack(name: str, spec: Any, fail: Any) -> AttackSpec:
    from modelsteal.registry import ATTACKS

    where = f"attacks.{name}"
    if spec is None:
        spec = {"attack": name}
    if not isinstance(spec, dict):
        raise fail(where, "a mapping with attack: NAME")
    unknown = sorted(set(spec) - {"attack", "options", "pool", "budgets"})
    if unknown:
        raise fail(f"{where}.{unknown[0]}", "unknown; an attack takes attack, options, pool, budgets")
    attack = str(spec.get("attack", name))
    if attack not in ATTACKS:
        raise fail(f"{where}.attack", f"unknown attack {attack!r}; choose one of {', '.join(ATTACKS)}")
    options = spec.get("options") or {}
    if not isinstance(options, dict):
        raise fail(f"{where}.options", "a mapping of the attack's keyword hyperparameters")
    pool = spec.get("pool")
    if ATTACKS[attack].takes_pool:
        pool = str(pool or "in-distribution")
        if pool not in POOL_KINDS:
            raise fail(f"{where}.pool", f"choose one of {', '.join(POOL_KINDS)}")
    elif pool is not None:
        raise fail(f"{where}.pool", f"{attack} learns from no pool; remove it")
    made = AttackSpec(name, attack, dict(options), pool, None)
    try:
        make_planned_attack(made)
    except InvalidInput as exc:
        raise fail(f"{where}.options", str(exc)) from None
    budgets = _ints(spec["budgets"], f"{where}.budgets", fail, minimum=1) if "budgets" in spec else None
    return AttackSpec(name, attack, dict(options), pool, budgets)


def _rule(rule: Any, where: str, names: dict[str, set[str]], fail: Any) -> dict[str, Any]:
    if not isinstance(rule, dict) or not rule:
        raise fail(where, f"a mapping of some of {', '.join(RULE_FIELDS)} to a value or a list")
    for key, value in rule.items():
        if key not in RULE_FIELDS:
            raise fail(f"{where}.{key}", f"unknown; a rule matches on {', '.join(RULE_FIELDS)}")
        if key in names:
            for item in value if isinstance(value, list) else [value]:
                if str(item) not in names[key]:
                    raise fail(
                        f"{where}.{key}",
                        f"no {key} is named {item!r}; the file has {', '.join(sorted(names[key]))}",
                    )
    return dict(rule)


def _honest(value: Any, fail: Any) -> dict[str, int] | None:
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise fail("honest", "a mapping {clients: N, queries: M}, or false")
    unknown = sorted(set(value) - {"clients", "queries"})
    if unknown:
        raise fail(f"honest.{unknown[0]}", "unknown; honest takes clients and queries")
    clients = _ints([value.get("clients", 10)], "honest.clients", fail, minimum=1)[0]
    queries = _ints([value.get("queries", 200)], "honest.queries", fail, minimum=1)[0]
    return {"clients": clients, "queries": queries}


def _ownership(value: Any, victims: tuple[VictimSpec, ...], fail: Any) -> dict[str, Any]:
    """``ownership: {methods: [...], zoo: N, families: [...], alpha: A, queries: Q}``."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise fail("ownership", "a mapping {methods: [sac-m-labels, ...], zoo: 10}")
    unknown = sorted(set(value) - {"methods", "zoo", "families", "alpha", "queries"})
    if unknown:
        raise fail(
            f"ownership.{unknown[0]}", "unknown; ownership takes methods, zoo, families, alpha, queries"
        )
    methods = value.get("methods") or ["sac-m-labels"]
    if not isinstance(methods, list):
        methods = [methods]
    ready = [name for name, cls in OWNERSHIP_METHODS.items() if cls.campaign_ready]
    for m in methods:
        if m not in ready:
            raise fail(
                "ownership.methods",
                f"{m!r}: a cell verifies its copy with {', '.join(ready)} "
                "(DAWN reads the API's watermark store: run modelsteal verify --method dawn)",
            )
    families = value.get("families") or []
    for f in families if isinstance(families, list) else [families]:
        if f not in MODEL_FAMILIES:
            raise fail("ownership.families", f"unknown family {f!r}; choose from {', '.join(MODEL_FAMILIES)}")
    alpha = value.get("alpha", 0.01)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 < float(alpha) < 1.0:
        raise fail("ownership.alpha", f"{alpha!r} is not a level in (0, 1)")
    zoo = _ints([value.get("zoo", 10)], "ownership.zoo", fail, minimum=MIN_INDEPENDENTS)[0]
    queries = _ints([value.get("queries", 100)], "ownership.queries", fail, minimum=2)[0]
    for victim in victims:
        if victim.source == "train" and "victim_rows" not in victim.params:
            raise fail(
                f"victims.{victim.name}.train",
                "ownership needs victim_rows: the rows the owner never saw train the independent models",
            )
        if victim.source == "path" and not (Path(victim.params["path"]) / "pool.npz").is_file():
            raise fail(
                f"victims.{victim.name}.path",
                "ownership needs a victim trained with --victim-rows (its pool.npz trains the independent models)",
            )
    return {
        "methods": [str(m) for m in methods],
        "zoo": zoo,
        "families": [str(f) for f in (families if isinstance(families, list) else [families])],
        "alpha": float(alpha),
        "queries": queries,
    }


def _comparison(value: Any, where: str, victims: set[str], fail: Any) -> Comparison:
    if not isinstance(value, dict) or not isinstance(value.get("victims"), list) or len(value["victims"]) < 2:
        raise fail(where, "a mapping {name: ..., victims: [A, B]} naming two victims or more")
    for v in value["victims"]:
        if v not in victims:
            raise fail(f"{where}.victims", f"no victim is named {v!r}")
    return Comparison(
        str(value.get("name") or " vs ".join(value["victims"])),
        tuple(value["victims"]),
        str(value.get("claim") or ""),
    )


# ---------------------------------------------------------------------- what the plan knows


def family_mismatch(attack: str, family: str | None) -> str | None:
    """Why ``attack`` is not played against a victim of ``family`` (its class's ``targets``;
    an attack with none tries any model and is judged by its fidelity)."""
    from modelsteal.registry import ATTACKS

    targets = ATTACKS[attack].targets
    if not targets or family is None or family in targets:
        return None
    return f"{attack} steals {', '.join(targets)} models and this victim is a {family}"


def make_planned_attack(spec: AttackSpec) -> Any:
    """The attack with its options (the pool is given only when the cell runs)."""
    from modelsteal.attacks.registry import make_attack

    return make_attack(spec.attack, **spec.options)


def planned_info(victim: VictimSpec, policy: PolicySpec | None, path: Path | None) -> Any:
    """What an attacker would be told about ``victim`` behind ``policy``, without training it."""
    from modelsteal.gateway.policy import Policy
    from modelsteal.oracle import ModelInfo

    if victim.source == "train":
        from modelsteal.datasets import load_dataset

        data = load_dataset(str(victim.params["dataset"]))
        space = data.feature_space
        classes = tuple(str(c) for c in data.class_names)
        family = str(victim.params["family"])
    else:
        from modelsteal.victims.model_dir import load_model_dir

        md = load_model_dir(victim.params["path"])
        space = md.feature_space
        classes = tuple(str(c) for c in md.card["classes"])
        family = str(md.card.get("family"))
    tier = Policy.from_dict((policy.policy if policy else None) or {}).tier(
        policy.tier if policy else "default"
    )
    return ModelInfo(
        name=victim.name,
        classes=classes,
        feature_space=space,
        family=family,
        output_mode=tier.output,
        price_per_query=tier.price_per_row,
    )

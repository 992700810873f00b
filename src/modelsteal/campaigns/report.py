"""The campaign report: one self-contained HTML file a person reads, offline.

Jinja2 lays it out; matplotlib draws the figures, inlined as SVG (fonts as paths, so
nothing is fetched); a few lines of plain JavaScript sort the tables; the raw results are
embedded as JSON with a download link. No CDN, no request but ``data:``.

What it shows, and the rule behind each figure:

- the attack × policy heatmap holds the **worst case for the defender**: the best
  fidelity any seed reached at any budget, not the mean;
- fidelity against queries: the mean over seeds, and the band from the worst to the
  best seed;
- the cost to steal (queries, money at the policy's price, the attacker's CPU seconds,
  proof-of-work seconds) beside what training the victim cost;
- detection: the query of each detector's first alarm, and the copy's fidelity then;
- utility against protection: what each policy costs honest clients (accuracy, refused
  rows, false alarms) against the worst-case fidelity it leaves thieves;
- comparisons the file asks for (victim against victim, attack by attack), with the
  spread over seeds;
- the cells that failed or could not run, with the reason.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from modelsteal.campaigns.cells import fidelity_at
from modelsteal.campaigns.store import CellRow, read_store

REPORT_NAME = "report.html"


# ---------------------------------------------------------------------- numbers


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return float(statistics.fmean(items)) if items else float("nan")


def _sd(values: Iterable[float]) -> float:
    items = list(values)
    return float(statistics.stdev(items)) if len(items) > 1 else 0.0


def _pct(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * float(value):.{digits}f}%"


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e9):
        return f"{int(value):,}"
    return f"{float(value):,.{digits}f}"


class Results:
    """The store's rows, grouped the ways the report reads them (each grouping made once)."""

    def __init__(
        self, rows: Sequence[CellRow], victims: dict[str, dict[str, Any]], meta: dict[str, str]
    ) -> None:
        self.rows = list(rows)
        self.victims = victims
        self.meta = meta
        self.attacks = [r for r in self.rows if r.kind == "attack" and r.status == "done"]
        self.honest = [r for r in self.rows if r.kind == "honest" and r.status == "done"]
        self.failed = [r for r in self.rows if r.status == "failed"]
        self.skipped = [r for r in self.rows if r.status == "skipped"]

    @classmethod
    def load(cls, folder: str | Path) -> Results:
        """The results of a campaign folder."""
        return cls(*read_store(folder))

    def names(self, field: str, rows: Sequence[CellRow] | None = None) -> list[str]:
        return list(dict.fromkeys(getattr(r, field) for r in (self.rows if rows is None else rows)))

    def fidelity(self, row: CellRow) -> float:
        value = row.result.get("fidelity_test")
        return float(value) if value is not None else 0.0

    @functools.cached_property
    def worst_case(self) -> dict[tuple[str, str, str], CellRow]:
        """Per (victim, policy, attack): the cell with the best fidelity over seeds and budgets."""
        best: dict[tuple[str, str, str], CellRow] = {}
        for r in self.attacks:
            key = (r.victim, r.policy, r.attack)
            if key not in best or self.fidelity(r) > self.fidelity(best[key]):
                best[key] = r
        return best

    @functools.cached_property
    def by_budget(self) -> dict[tuple[str, str, str], dict[int, list[CellRow]]]:
        out: dict[tuple[str, str, str], dict[int, list[CellRow]]] = defaultdict(lambda: defaultdict(list))
        for r in self.attacks:
            out[(r.victim, r.policy, r.attack)][r.budget].append(r)
        return {key: dict(budgets) for key, budgets in out.items()}  # plain: a lookup adds nothing

    @functools.cached_property
    def honest_by(self) -> dict[tuple[str, str], list[CellRow]]:
        out: dict[tuple[str, str], list[CellRow]] = defaultdict(list)
        for r in self.honest:
            out[(r.victim, r.policy)].append(r)
        return dict(out)


# ---------------------------------------------------------------------- figures


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: inline SVG needs neither


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "path", "font.size": 9, "svg.hashsalt": "modelsteal"})
    return plt


def heatmap(res: Results, victim: str) -> str | None:
    """Attack × policy: the worst-case fidelity (the best any seed and budget reached)."""
    worst = res.worst_case
    attacks = [
        a for a in res.names("attack", res.attacks) if any(k[0] == victim and k[2] == a for k in worst)
    ]
    policies = [
        p for p in res.names("policy", res.attacks) if any(k[0] == victim and k[1] == p for k in worst)
    ]
    if not attacks or not policies:
        return None
    plt = _plt()
    import numpy as np

    grid = np.full((len(attacks), len(policies)), np.nan)
    for i, a in enumerate(attacks):
        for j, p in enumerate(policies):
            if (victim, p, a) in worst:
                grid[i, j] = res.fidelity(worst[(victim, p, a)])
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(policies), 0.9 + 0.5 * len(attacks)))
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn_r", aspect="auto")
    for i in range(len(attacks)):
        for j in range(len(policies)):
            text = "skipped" if np.isnan(grid[i, j]) else f"{100 * grid[i, j]:.0f}%"
            ax.text(j, i, text, ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(policies)), policies, rotation=20, ha="right")
    ax.set_yticks(range(len(attacks)), attacks)
    ax.set_title(f"{victim}: worst-case test fidelity (best seed, any budget)")
    fig.colorbar(image, ax=ax, fraction=0.04, label="fidelity")
    return _svg(fig)


def fidelity_curves(res: Results, victim: str) -> str | None:
    """Fidelity against queries, a panel per policy, a line per attack: mean and the seeds' range."""
    series = {k: v for k, v in res.by_budget.items() if k[0] == victim}
    policies = [p for p in res.names("policy", res.attacks) if any(k[1] == p for k in series)]
    if not policies:
        return None
    plt = _plt()
    fig, axes = plt.subplots(
        1, len(policies), figsize=(3.2 * len(policies), 3.0), sharey=True, squeeze=False, layout="constrained"
    )
    for ax, policy in zip(axes[0], policies, strict=True):
        for (_, p, attack), budgets in sorted(series.items()):
            if p != policy:
                continue
            xs = sorted(budgets)
            queries = [_mean(r.result.get("queries", b) for r in budgets[b]) for b in xs]
            fids = [[res.fidelity(r) for r in budgets[b]] for b in xs]
            line = ax.plot(queries, [_mean(f) for f in fids], marker="o", label=attack)[0]
            ax.fill_between(
                queries, [min(f) for f in fids], [max(f) for f in fids], alpha=0.2, color=line.get_color()
            )
        ax.set_title(policy)
        ax.set_xlabel("queries")
        ax.set_xlim(left=0)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test fidelity")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{victim}: fidelity against queries (mean over seeds; band: worst to best seed)")
    return _svg(fig)


def detection_figure(res: Results) -> str | None:
    """Each attack cell's first alarm per detector: when the gateway noticed, and what was stolen by then."""
    points = [(r, det, q) for r in res.attacks for det, q in (r.result.get("alarms") or {}).items()]
    if not points:
        return None
    plt = _plt()
    labels = list(dict.fromkeys(f"{r.victim} / {r.policy} / {r.attack}" for r, _, _ in points))
    detectors = list(dict.fromkeys(d for _, d, _ in points))
    markers = "os^vD<>ph*"
    fig, ax = plt.subplots(figsize=(7.5, 0.8 + 0.32 * len(labels)))
    for k, det in enumerate(detectors):
        xs = [q / max(r.result.get("queries") or r.budget, 1) for r, d, q in points if d == det]
        ys = [labels.index(f"{r.victim} / {r.policy} / {r.attack}") for r, d, _ in points if d == det]
        ax.scatter(xs, ys, marker=markers[k % len(markers)], label=det, alpha=0.7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("first alarm, as a share of the queries the thief sent")
    ax.set_xlim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.set_title("detection timeline: each detector's first alarm per cell")
    return _svg(fig)


def utility_figure(res: Results) -> str | None:
    """Per victim and policy: how far honest answers are from the model's own, against the
    worst-case fidelity left to thieves."""
    honest = res.honest_by
    worst = res.worst_case
    points = []
    for (victim, policy), rows in honest.items():
        fids = [res.fidelity(r) for k, r in worst.items() if k[0] == victim and k[1] == policy]
        if not fids:
            continue
        distortion = _mean(float(r.result.get("answer_tv") or 0.0) for r in rows)
        points.append((victim, policy, distortion, max(fids)))
    if not points:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    for victim in dict.fromkeys(p[0] for p in points):
        mine = [p for p in points if p[0] == victim]
        ax.scatter([p[2] for p in mine], [p[3] for p in mine], label=victim, s=40)
        for _, policy, x, y in mine:
            ax.annotate(policy, (x, y), fontsize=7, xytext=(4, -10), textcoords="offset points")
    ax.set_xlabel("honest answers' distance from the model's own (mean total variation)")
    ax.set_ylabel("worst-case thief fidelity")
    ax.set_xlim(left=-0.01)
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("utility against protection: down and to the left is better")
    return _svg(fig)


def comparison_figure(res: Results, victims: Sequence[str], name: str) -> str | None:
    """Paired cells: the first victim's copy fidelity (x) against each other victim's (y), same
    policy, attack, budget and seed. Above the diagonal: the other victim was easier to copy."""
    first = {
        (r.policy, r.attack, r.budget, r.seed): res.fidelity(r) for r in res.attacks if r.victim == victims[0]
    }
    if not first:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.6), layout="constrained")
    markers = "os^vD<>ph*"
    attacks = res.names("attack", res.attacks)
    low = 1.0
    for other in victims[1:]:
        for r in res.attacks:
            if r.victim != other or (r.policy, r.attack, r.budget, r.seed) not in first:
                continue
            x = first[(r.policy, r.attack, r.budget, r.seed)]
            low = min(low, x, res.fidelity(r))
    for k, attack in enumerate(attacks):
        for j, policy in enumerate(res.names("policy", res.attacks)):
            pairs = [
                (first[(r.policy, r.attack, r.budget, r.seed)], res.fidelity(r))
                for other in victims[1:]
                for r in res.attacks
                if r.victim == other
                and r.attack == attack
                and r.policy == policy
                and (r.policy, r.attack, r.budget, r.seed) in first
            ]
            if pairs:
                ax.scatter(
                    [p[0] for p in pairs],
                    [p[1] for p in pairs],
                    marker=markers[k % len(markers)],
                    color=f"C{j}",
                    label=f"{attack}, {policy}",
                    alpha=0.75,
                )
    lo = max(0.0, low - 0.03)
    ax.plot([lo, 1], [lo, 1], color="grey", lw=1, ls="--")
    ax.set_xlim(lo, 1)
    ax.set_ylim(lo, 1)
    ax.set_xlabel(f"{victims[0]}: copy's test fidelity")
    ax.set_ylabel(f"{', '.join(victims[1:])}: copy's test fidelity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(
        f"{name}\n(one point per paired cell; above the line: {victims[1]} easier to copy)", fontsize=9
    )
    return _svg(fig)


# ---------------------------------------------------------------------- tables


def _table(heads: Sequence[str], rows: Sequence[Sequence[Any]], *, sortable: bool = True) -> dict[str, Any]:
    """A table for the template: cells as (text, sort key)."""
    out = []
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, tuple):
                cells.append({"text": value[0], "key": value[1]})
            else:
                cells.append({"text": str(value), "key": ""})
        out.append(cells)
    return {"heads": list(heads), "rows": out, "sortable": sortable}


def _sortkey(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value)) if isinstance(value, int | float) else str(value)


def headline_table(res: Results) -> dict[str, Any]:
    """Per victim, policy and attack: worst-case fidelity and what it took, over seeds and budgets."""
    rows = []
    groups = res.by_budget
    worst = res.worst_case
    for (victim, policy, attack), best in sorted(worst.items()):
        top = max(groups[(victim, policy, attack)])
        fids = [res.fidelity(r) for r in groups[(victim, policy, attack)][top]]
        alarm = best.result.get("first_alarm")
        rows.append(
            [
                victim,
                policy,
                attack,
                (_pct(res.fidelity(best)), _sortkey(res.fidelity(best))),
                (f"{_pct(_mean(fids))} ± {100 * _sd(fids):.1f}", _sortkey(_mean(fids))),
                (_pct(best.result.get("fidelity_uniform")), _sortkey(best.result.get("fidelity_uniform"))),
                (_num(best.result.get("queries")), _sortkey(best.result.get("queries"))),
                (_num(best.result.get("money"), 3), _sortkey(best.result.get("money"))),
                (_num(best.result.get("cpu_seconds")), _sortkey(best.result.get("cpu_seconds"))),
                ("–" if alarm is None else _num(alarm), _sortkey(alarm)),
                best.result.get("stopped_by") or "",
            ]
        )
    return _table(
        [
            "victim",
            "policy",
            "attack",
            "worst-case fidelity",
            "fidelity at top budget (mean ± sd)",
            "uniform fidelity",
            "queries",
            "money",
            "attacker CPU s",
            "first alarm (query)",
            "stopped by",
        ],
        rows,
    )


def cost_table(res: Results) -> dict[str, Any]:
    rows = []
    for (victim, policy, attack), best in sorted(res.worst_case.items()):
        info = res.victims.get(victim, {})
        train = info.get("train_cpu_seconds") or info.get("train_seconds")
        cpu = (best.result.get("cpu_seconds") or 0.0) + (best.result.get("pow_seconds") or 0.0)
        rows.append(
            [
                victim,
                policy,
                attack,
                (_pct(res.fidelity(best)), _sortkey(res.fidelity(best))),
                (_num(best.result.get("queries")), _sortkey(best.result.get("queries"))),
                (_num(best.result.get("money"), 3), _sortkey(best.result.get("money"))),
                (_num(best.result.get("cpu_seconds")), _sortkey(best.result.get("cpu_seconds"))),
                (_num(best.result.get("pow_seconds")), _sortkey(best.result.get("pow_seconds"))),
                (_num(train), _sortkey(train)),
                ("–" if not train else f"{cpu / train:.2f}×", _sortkey(cpu / train if train else None)),
            ]
        )
    return _table(
        [
            "victim",
            "policy",
            "attack",
            "fidelity",
            "queries",
            "money",
            "attacker CPU s",
            "proof-of-work s",
            "victim training CPU s",
            "theft ÷ training",
        ],
        rows,
    )


def detection_table(res: Results) -> dict[str, Any]:
    per: dict[tuple[str, str, str], list[tuple[int, float | None]]] = defaultdict(list)
    cells: dict[tuple[str, str], int] = defaultdict(int)
    for r in res.attacks:
        cells[(r.victim, r.policy)] += 1
        for det, q in (r.result.get("alarms") or {}).items():
            per[(r.victim, r.policy, det)].append(
                (int(q), fidelity_at(r.result.get("history") or [], int(q)))
            )
    honest = res.honest_by
    rows = []
    for (victim, policy, det), hits in sorted(per.items()):
        qs = [q for q, _ in hits]
        fids = [f for _, f in hits if f is not None]
        false_alarms = [r.result.get("flagged_share") for r in honest.get((victim, policy), [])]
        rows.append(
            [
                victim,
                policy,
                det,
                (f"{len(hits)} of {cells[(victim, policy)]}", _sortkey(len(hits) / cells[(victim, policy)])),
                (_num(statistics.median(qs)), _sortkey(statistics.median(qs))),
                (_pct(_mean(fids)) if fids else "–", _sortkey(_mean(fids) if fids else None)),
                (
                    _pct(_mean(f for f in false_alarms if f is not None)) if false_alarms else "–",
                    _sortkey(_mean(f for f in false_alarms if f is not None) if false_alarms else None),
                ),
            ]
        )
    return _table(
        [
            "victim",
            "policy",
            "detector",
            "attack cells alarmed",
            "median first alarm (query)",
            "copy's fidelity then (mean)",
            "honest clients flagged (any detector)",
        ],
        rows,
    )


def honest_table(res: Results) -> dict[str, Any]:
    rows = []
    for (victim, policy), cells in sorted(res.honest_by.items()):

        def m(field: str, cells: list[CellRow] = cells) -> float:
            return _mean(float(r.result.get(field) or 0.0) for r in cells)

        lost = m("plain_accuracy") - m("honest_accuracy")
        rows.append(
            [
                victim,
                policy,
                (_pct(m("honest_accuracy")), _sortkey(m("honest_accuracy"))),
                (f"{100 * lost:+.1f}", _sortkey(lost)),
                (_pct(m("labels_kept")), _sortkey(m("labels_kept"))),
                (_pct(m("refused_share")), _sortkey(m("refused_share"))),
                (_pct(m("flagged_share")), _sortkey(m("flagged_share"))),
                (_num(m("money_per_client"), 3), _sortkey(m("money_per_client"))),
                (_num(m("ms_per_request")), _sortkey(m("ms_per_request"))),
            ]
        )
    return _table(
        [
            "victim",
            "policy",
            "honest accuracy",
            "points lost",
            "labels as plain",
            "rows refused",
            "clients flagged",
            "money per client",
            "ms per request",
        ],
        rows,
    )


def _paired_summary(res: Results, victims: Sequence[str], diffs: list[float]) -> str:
    """The paired cells in words: the mean difference, how often the second was higher, a sign test."""
    first, second = victims[0], victims[1]
    accuracy = {v: res.victims.get(v, {}).get("accuracy") for v in victims}
    higher = sum(d > 0 for d in diffs)
    ties = sum(d == 0 for d in diffs)
    sign_p = None
    if len(diffs) - ties > 0:
        from scipy.stats import binomtest

        sign_p = float(binomtest(higher, len(diffs) - ties, 0.5).pvalue)
    if diffs:
        summary = (
            f"Over {len(diffs)} paired cells (same policy, attack, budget and seed), {second} was copied with "
            f"{'higher' if _mean(diffs) > 0 else 'lower'} fidelity than {first} on average: "
            f"{100 * _mean(diffs):+.1f} points (sd {100 * _sd(diffs):.1f}); higher in {higher} of {len(diffs)} cells"
        )
        if sign_p is not None:
            summary += f" (two-sided sign test over the cells: p = {sign_p:.2g})"
        summary += (
            ". Test accuracy: "
            + ", ".join(f"{v} {_pct(a)}" for v, a in accuracy.items())
            + ". The spread is over the thieves' seeds against one trained model of each kind: it speaks "
            "to these models, not to every model trained this way."
        )
    else:
        summary = "No paired cells: the victims share no policy, attack, budget and seed."
    return summary


def comparison_section(res: Results, name: str, victims: Sequence[str], claim: str) -> dict[str, Any]:
    """Victim against victim, cell by cell (same policy, attack, budget, seed): the paired difference."""
    groups = res.by_budget
    rows = []
    diffs: list[float] = []
    first, second = victims[0], victims[1]
    keys = sorted({(p, a, b) for (v, p, a), budgets in groups.items() if v in victims for b in budgets})
    for p, a, b in keys:
        cols: list[Any] = [a, p, (str(b), _sortkey(b))]
        by_seed: dict[str, dict[int, float]] = {}
        for v in victims:
            cells = groups.get((v, p, a), {}).get(b, [])
            fids = [res.fidelity(r) for r in cells]
            by_seed[v] = {r.seed: res.fidelity(r) for r in cells}
            cols.append(
                (f"{_pct(_mean(fids))} ± {100 * _sd(fids):.1f}" if fids else "–", _sortkey(_mean(fids)))
            )
        paired = [by_seed[second][s] - by_seed[first][s] for s in by_seed[first] if s in by_seed[second]]
        diffs += paired
        cols.append(
            (
                f"{100 * _mean(paired):+.1f} ± {100 * _sd(paired):.1f}" if paired else "–",
                _sortkey(_mean(paired) if paired else None),
            )
        )
        rows.append(cols)
    summary = _paired_summary(res, victims, diffs)
    return {
        "name": name,
        "claim": claim,
        "summary": summary,
        "table": _table(
            [
                "attack",
                "policy",
                "budget",
                *[f"{v} fidelity" for v in victims],
                f"{second} − {first} (points)",
            ],
            rows,
        ),
        "figure": comparison_figure(res, victims, name),
    }


def ownership_table(res: Results) -> dict[str, Any] | None:
    """Per victim, policy, attack and method: how many copies the owner convicts at its level."""
    groups: dict[tuple[str, str, str, str], list[tuple[CellRow, dict[str, Any]]]] = defaultdict(list)
    for r in res.attacks:
        for method, verdict in (r.result.get("ownership") or {}).items():
            groups[(r.victim, r.policy, r.attack, method)].append((r, verdict))
    if not groups:
        return None
    rows = []
    for (victim, policy, attack, method), items in sorted(groups.items()):
        judged = [(r, v) for r, v in items if "p_value" in v]
        errors = sorted({v["error"] for _, v in items if "error" in v})
        ps = [float(v["p_value"]) for _, v in judged]
        convicted = sum(bool(v["stolen"]) for _, v in judged)
        alpha = judged[0][1]["alpha"] if judged else None
        far = [float(v["false_accusation_rate"]) for _, v in judged]
        rows.append(
            [
                victim,
                policy,
                attack,
                method,
                (
                    f"{convicted} of {len(judged)}" if judged else "–",
                    _sortkey(convicted / len(judged) if judged else None),
                ),
                (
                    f"{statistics.median(ps):.2g}" if ps else "–",
                    _sortkey(statistics.median(ps) if ps else None),
                ),
                (f"{min(ps):.2g}" if ps else "–", _sortkey(min(ps) if ps else None)),
                (_pct(_mean(res.fidelity(r) for r, _ in judged)) if judged else "–", ""),
                (_pct(_mean(far)) if far else "–", _sortkey(_mean(far) if far else None)),
                ("–" if alpha is None else str(alpha), ""),
                "; ".join(errors),
            ]
        )
    return _table(
        [
            "victim",
            "policy",
            "attack",
            "method",
            "copies convicted",
            "median p",
            "smallest p",
            "copies' fidelity (mean)",
            "independents accused (leave one out)",
            "α",
            "error",
        ],
        rows,
    )


def failures_table(res: Results) -> dict[str, Any]:
    rows = [
        [
            r.status,
            r.victim,
            r.policy,
            r.attack,
            (str(r.budget), _sortkey(r.budget)),
            (str(r.seed), _sortkey(r.seed)),
            r.error or "",
        ]
        for r in [*res.failed, *res.skipped]
    ]
    return _table(["status", "victim", "policy", "attack", "budget", "seed", "why"], rows)


def _describe(content: dict[str, Any]) -> str:
    """A victim's spec in a line: ``train digits cnn: victim_rows 673, labelled_rows 120, epochs 20``."""
    for source, params in content.items():
        if source == "name":
            continue
        if source != "train":
            return f"{source} {params.get('path') or params.get('url')}"
        extra = {k: v for k, v in params.items() if k not in ("dataset", "family", "options")}
        extra.update(params.get("options") or {})
        return f"train {params['dataset']} {params['family']}: " + ", ".join(
            f"{k} {v}" for k, v in sorted(extra.items())
        )
    return "–"


def victims_table(res: Results) -> dict[str, Any]:
    rows = []
    for name, info in res.victims.items():
        rows.append(
            [
                name,
                str(info.get("family") or "–"),
                (_pct(info.get("accuracy")), _sortkey(info.get("accuracy"))),
                (_num(info.get("train_rows")), _sortkey(info.get("train_rows"))),
                (
                    _num(info.get("train_cpu_seconds") or info.get("train_seconds")),
                    _sortkey(info.get("train_cpu_seconds")),
                ),
                _describe(info.get("content", {})),
            ]
        )
    return _table(
        ["victim", "family", "test accuracy", "labelled training rows", "training CPU s", "spec"], rows
    )


# ---------------------------------------------------------------------- the page


def build_report(
    folder: str | Path, *, output: str | Path | None = None, comparisons: Sequence[Any] = ()
) -> Path:
    """Write ``folder``'s report (``report.html`` by default) and return its path."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    res = Results.load(folder)
    wanted = list(comparisons) or [
        {"name": c["name"], "victims": c["victims"], "claim": c.get("claim", "")}
        for c in json.loads(res.meta.get("comparisons", "[]"))
    ]
    victims = res.names("victim", res.attacks)
    raw = json.dumps(
        {
            "campaign": res.meta,
            "victims": res.victims,
            "cells": [r.record() for r in res.rows],
        },
        sort_keys=True,
        default=float,
    )
    env = Environment(
        loader=PackageLoader("modelsteal.campaigns", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    page = env.get_template("report.html.j2").render(
        title=f"modelsteal campaign: {res.meta.get('name', Path(folder).name)}",
        meta=res.meta,
        description=res.meta.get("description", ""),
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        counts={
            "cells": len(res.rows),
            "done": sum(r.status == "done" for r in res.rows),
            "skipped": len(res.skipped),
            "failed": len(res.failed),
        },
        victims=victims_table(res),
        headline=headline_table(res),
        heatmaps=[(v, heatmap(res, v)) for v in victims],
        curves=[(v, fidelity_curves(res, v)) for v in victims],
        cost=cost_table(res),
        detection=detection_table(res),
        detection_figure=detection_figure(res),
        honest=honest_table(res),
        utility_figure=utility_figure(res),
        comparisons=[comparison_section(res, c["name"], c["victims"], c.get("claim", "")) for c in wanted],
        ownership=ownership_table(res),
        failures=failures_table(res),
        raw_json=raw.replace("</", "<\\/"),
        raw_b64=base64.b64encode(raw.encode()).decode(),
    )
    path = Path(output) if output is not None else Path(folder) / REPORT_NAME
    path.write_text(page, encoding="utf-8")
    return path


#: a headless browser on a closed network, as root, with no screen
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    import os
    import shutil

    found = (
        os.environ.get("MODELSTEAL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    return found if found and os.access(found, os.X_OK) else None


def screenshot(report: Path, out: Path, *, width: int = 1280, height: int = 1500) -> Path:
    """A PNG of the report's first ``height`` pixels, from a local Chromium driven by Playwright."""
    from modelsteal.errors import InvalidInput

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise InvalidInput(
            "--screenshot needs Playwright: pip install playwright (no browser download)"
        ) from None
    binary = chromium_path()
    if binary is None:
        raise InvalidInput(
            "--screenshot needs a Chromium binary: apt-get install chromium, or set MODELSTEAL_CHROMIUM=PATH"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=list(CHROMIUM_FLAGS))
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(Path(report).resolve().as_uri())
            page.screenshot(path=str(out))
        finally:
            browser.close()
    return Path(out)

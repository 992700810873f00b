"""``modelsteal campaign plan|run|export`` and ``modelsteal report``."""

# lazy imports: the CLI builds its parser from here, so what a command runs is imported when it runs
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from modelsteal.errors import InvalidInput

EXPORT_FORMATS = ("parquet", "csv", "jsonl")


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("give at least 1 worker")
    return value


def add_parsers(sub: Any) -> None:
    campaign = sub.add_parser(
        "campaign",
        help="play a grid of victims × policies × attacks × budgets × seeds, resumable, into a report",
        description="A campaign file (YAML) lists victims, policies, attacks, budgets and seeds; see "
        "modelsteal/campaigns/spec.py or the default campaign (modelsteal campaign plan --default).",
    )
    verbs = campaign.add_subparsers(dest="campaign_command", required=True)
    plan = verbs.add_parser("plan", help="print the cells a campaign file makes, and those that cannot run")
    plan.add_argument("file", type=Path, nargs="?", help="the campaign file (YAML)")
    plan.add_argument("--default", action="store_true", help="the default campaign that `make demo` runs")
    plan.add_argument("--json", action="store_true", help="one JSON object per cell instead of a table")
    run = verbs.add_parser("run", help="run the cells not done yet into OUT's store, then write the report")
    run.add_argument("file", type=Path, nargs="?", help="the campaign file (YAML)")
    run.add_argument("--default", action="store_true", help="the default campaign that `make demo` runs")
    run.add_argument("--out", type=Path, required=True, help="the folder of the store, victims and report")
    run.add_argument("--executor", choices=("local", "ray"), default="local")
    run.add_argument("--workers", type=_workers, default=2, help="processes (local) or CPUs (ray); default 2")
    run.add_argument("--address", help="--executor ray: a running cluster's HOST:PORT (default: a local Ray)")
    run.add_argument(
        "--resume",
        action="store_true",
        help="OUT holds another campaign's (or an edited file's) store: keep the cells that did not change",
    )
    run.add_argument("--retry-failed", action="store_true", help="run the cells that failed again")
    run.add_argument("--no-report", action="store_true", help="do not write OUT/report.html")
    export = verbs.add_parser("export", help="the store's cells as one table")
    export.add_argument("folder", type=Path, help="a campaign's --out folder")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="csv")
    export.add_argument("--output", type=Path, help="the file to write (default FOLDER/cells.FORMAT)")
    report = sub.add_parser("report", help="write a campaign's self-contained HTML report")
    report.add_argument("folder", type=Path, help="a campaign's --out folder")
    report.add_argument("--output", type=Path, help="the file to write (default FOLDER/report.html)")
    report.add_argument(
        "--screenshot",
        type=Path,
        help="also write a PNG of the report's first screen (needs Playwright and a Chromium binary)",
    )


def default_campaign_path() -> Path:
    return Path(__file__).with_name("default.yaml")


def _campaign(args: argparse.Namespace) -> Any:
    from modelsteal.campaigns.spec import load_campaign

    if args.default == (args.file is not None):
        raise InvalidInput("give a campaign file, or --default for the default campaign (not both)")
    return load_campaign(default_campaign_path() if args.default else args.file)


def cmd_campaign(args: argparse.Namespace) -> int:
    return {"plan": _plan, "run": _run, "export": _export}[args.campaign_command](args)


def _plan(args: argparse.Namespace) -> int:
    from modelsteal.campaigns.tables import print_table

    campaign = _campaign(args)
    cells, skipped = campaign.plan()
    if args.json:
        for cell in cells:
            print(json.dumps({"id": cell.id, "status": "to run", **cell.content()}, sort_keys=True))
        for s in skipped:
            print(
                json.dumps(
                    {"id": s.cell.id, "status": "skipped", "reason": s.reason, **s.cell.content()},
                    sort_keys=True,
                )
            )
        return 0
    rows = [
        [c.id, c.victim.name, c.policy_name, c.attack_name, str(c.budget), str(c.seed), "to run"]
        for c in cells
    ]
    rows += [
        [
            s.cell.id,
            s.cell.victim.name,
            s.cell.policy_name,
            s.cell.attack_name,
            str(s.cell.budget),
            str(s.cell.seed),
            f"skipped: {s.reason}",
        ]
        for s in skipped
    ]
    print_table(
        f"campaign {campaign.name}: {len(cells)} cells to run, {len(skipped)} that cannot run ({campaign.transport})",
        ["cell id", "victim", "policy", "attack", "budget", "seed", "status"],
        rows,
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from modelsteal.campaigns.report import build_report
    from modelsteal.campaigns.runner import make_executor, run_campaign

    campaign = _campaign(args)
    campaign.plan()  # every error of the file before Ray starts or a victim trains
    executor = make_executor(args.executor, workers=args.workers, address=args.address)
    try:
        summary = run_campaign(
            campaign, args.out, executor=executor, resume=args.resume, retry_failed=args.retry_failed
        )
    finally:
        executor.close()
    print(
        f"campaign {campaign.name}: {summary.ran} cells run in {summary.seconds:.1f} s "
        f"({summary.cells_per_minute:.1f} per minute on {summary.executor} × {summary.workers}), "
        f"{summary.reused} already done, {summary.skipped} cannot run, {summary.failed} failed"
    )
    for failure in summary.failures[:10]:
        print(f"  failed: {failure}")
    if not args.no_report:
        print(f"report: {build_report(args.out).resolve()}")
    return 1 if summary.failed else 0


def flat_rows(folder: Path) -> list[dict[str, Any]]:
    """One flat record per cell: coordinates, status, every scalar result, one column per detector's first alarm."""
    from modelsteal.campaigns.store import read_store

    out = []
    for row in read_store(folder)[0]:
        record = row.flat()
        for detector, query in (row.result.get("alarms") or {}).items():
            record[f"alarm_{detector}"] = query
        out.append(record)
    return out


def _export(args: argparse.Namespace) -> int:
    import pandas as pd

    from modelsteal.campaigns.store import read_store

    output = args.output or args.folder / f"cells.{args.format}"
    if args.format == "jsonl":
        rows = read_store(args.folder)[0]
        with output.open("w") as f:
            for row in rows:
                f.write(json.dumps(row.record(), sort_keys=True) + "\n")
        count = len(rows)
    else:
        frame = pd.DataFrame(flat_rows(args.folder))
        count = len(frame)
        if args.format == "csv":
            frame.to_csv(output, index=False)
        else:
            frame.to_parquet(output, index=False)
    print(f"{count} cells written to {output}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from modelsteal.campaigns.report import build_report, screenshot

    path = build_report(args.folder, output=args.output)
    print(f"report: {path.resolve()}")
    if args.screenshot is not None:
        print(f"screenshot: {screenshot(path, args.screenshot).resolve()}")
    return 0

"""Campaigns: the file and its errors, the plan, the runner (resume after SIGKILL, executors,
HTTP against in-process), the store's export and the report."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from modelsteal.campaigns.report import build_report
from modelsteal.campaigns.runner import LocalExecutor, check_ray_address, run_campaign
from modelsteal.campaigns.spec import campaign_from_dict, load_campaign
from modelsteal.campaigns.store import CampaignStore, comparable
from modelsteal.cli import main
from modelsteal.errors import InvalidInput
from modelsteal.gateway.process import free_port

BIG = ["1000000/day"]


def grid(**changes: Any) -> dict[str, Any]:
    """A small grid on digits: a softmax victim behind an open and a labels-only policy."""
    spec: dict[str, Any] = {
        "name": "test-grid",
        "victims": {"softmax": {"train": {"dataset": "digits", "family": "softmax", "victim_rows": 673}}},
        "policies": {
            "open": {
                "tiers": {"default": {"key_limits": BIG, "ip_limits": BIG, "price_per_row": 0.001}},
                "detection": {},
            },
            "labels": {
                "tiers": {
                    "default": {
                        "key_limits": BIG,
                        "ip_limits": BIG,
                        "price_per_row": 0.002,
                        "output": {"kind": "label"},
                    }
                },
                "detection": {},
            },
        },
        "attacks": {
            "eq": {"attack": "eq-softmax", "budgets": [65]},
            "retrain": {"attack": "retrain-uniform", "options": {"hidden": 20}},
        },
        "budgets": [40, 80],
        "seeds": [0, 1],
        "honest": {"clients": 2, "queries": 30},
    }
    spec.update(changes)
    return spec


def write(tmp_path: Path, spec: dict[str, Any], name: str = "grid.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


# ---------------------------------------------------------------------- the file


BAD_FILES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown top field", {"victim": {}}, "victim: unknown field"),
    ("unknown transport", {"transport": "pigeon"}, "transport: 'pigeon' is neither"),
    ("no attacks", {"attacks": {}}, "attacks: missing or empty"),
    ("unknown attack", {"attacks": {"x": {"attack": "telepathy"}}}, "attacks.x.attack: unknown attack"),
    (
        "bad attack option",
        {"attacks": {"x": {"attack": "knockoff", "options": {"zzz": 1}}}},
        "attacks.x.options",
    ),
    ("pool on equations", {"attacks": {"x": {"attack": "eq-softmax", "pool": "uniform"}}}, "attacks.x.pool"),
    ("bad budget", {"budgets": [0]}, "budgets: 0 is not a whole number >= 1"),
    ("bad seed", {"seeds": ["a"]}, "seeds: 'a' is not a whole number"),
    (
        "unknown family",
        {"victims": {"v": {"train": {"dataset": "digits", "family": "oracle"}}}},
        "victims.v.train.family",
    ),
    (
        "unknown dataset",
        {"victims": {"v": {"train": {"dataset": "nope", "family": "softmax"}}}},
        "victims.v.train.dataset",
    ),
    ("two sources", {"victims": {"v": {"path": "a", "url": "http://x"}}}, "victims.v: give exactly one"),
    ("missing path", {"victims": {"v": {"path": "no/such/dir"}}}, "victims.v.path: "),
    (
        "bad policy",
        {"policies": {"p": {"tiers": {"default": {"output": {"kind": "psychic"}}}}}},
        "policies.p:",
    ),
    ("reserved policy", {"policies": {"served": {}}}, "policies.served"),
    (
        "rule names nothing",
        {"exclude": [{"victim": "ghost"}]},
        "exclude[0].victim: no victim is named 'ghost'",
    ),
    ("rule field", {"include": [{"colour": "red"}]}, "include[0].colour: unknown"),
    ("everything excluded", {"exclude": [{"victim": "softmax"}]}, "the rules leave no cell to run"),
    ("comparison", {"comparisons": [{"victims": ["softmax"]}]}, "comparisons[0]"),
    ("honest", {"honest": {"clients": 0}}, "honest.clients"),
    ("ownership method", {"ownership": {"methods": ["dawn"]}}, "ownership.methods: 'dawn'"),
    ("ownership level", {"ownership": {"alpha": 2}}, "ownership.alpha"),
    (
        "ownership without held-out rows",
        {"victims": {"v": {"train": {"dataset": "digits", "family": "softmax"}}}, "ownership": {"zoo": 5}},
        "victims.v.train: ownership needs victim_rows",
    ),
]


@pytest.mark.parametrize(("label", "change", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_malformed_file_names_the_field(label: str, change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        campaign_from_dict(grid(**change))


def test_the_cli_refuses_a_malformed_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, grid(budgets=[-3]))
    assert main(["campaign", "plan", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "budgets: -3 is not a whole number" in err and "Traceback" not in err
    assert main(["campaign", "run", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_a_budget_below_an_attacks_minimum_is_an_error_not_a_skip() -> None:
    campaign = campaign_from_dict(grid(attacks={"eq": {"attack": "eq-softmax", "budgets": [10]}}))
    with pytest.raises(
        InvalidInput, match="needs at least 65 queries against victim 'softmax', but a budget is 10"
    ):
        campaign.plan()


def test_the_plan_skips_impossible_pairs_with_the_reason_and_ids_are_stable() -> None:
    campaign = campaign_from_dict(grid())
    cells, skipped = campaign.plan()
    # eq: 2 policies × 1 budget × 2 seeds, of which the labels-only ones cannot run;
    # retrain: 2 policies × 2 budgets × 2 seeds; honest: 2 policies × 2 seeds
    assert len(cells) == 2 + 8 + 4 and len(skipped) == 2
    assert {s.cell.policy_name for s in skipped} == {"labels"}
    assert all("needs probability vectors" in s.reason for s in skipped)
    again, _ = campaign_from_dict(grid()).plan()
    assert [c.id for c in cells] == [c.id for c in again]
    assert len({c.id for c in cells}) == len(cells)
    # changing one attack's options changes only that attack's cells
    changed, _ = campaign_from_dict(
        grid(
            attacks={**grid()["attacks"], "retrain": {"attack": "retrain-uniform", "options": {"hidden": 30}}}
        )
    ).plan()
    kept = {c.id for c in cells} & {c.id for c in changed}
    assert {c.attack_name for c in cells if c.id in kept} == {"eq", "honest"}


# ---------------------------------------------------------------------- the runner


def test_a_run_measures_every_cell_and_a_second_run_runs_nothing(tmp_path: Path) -> None:
    campaign = campaign_from_dict(grid())
    summary = run_campaign(campaign, tmp_path / "out", executor=LocalExecutor(1))
    assert (summary.ran, summary.skipped, summary.failed) == (14, 2, 0)
    store = CampaignStore(tmp_path / "out")
    rows = {(r.policy, r.attack, r.budget, r.seed): r for r in store.rows()}
    eq = rows[("open", "eq", 65, 0)]
    assert eq.status == "done" and eq.result["queries"] == 65  # d + 1 for 64 features, exactly
    assert eq.result["fidelity_test"] == pytest.approx(1.0)
    assert eq.result["money"] == pytest.approx(65 * 0.001)
    assert eq.result["alarms"]["narrow_range"] <= 65  # the gateway's detectors watched the key
    retrain = rows[("labels", "retrain", 80, 1)]
    assert retrain.result["queries"] == 80 and retrain.result["money"] == pytest.approx(80 * 0.002)
    assert 0.0 < retrain.result["fidelity_test"] < 1.0
    assert rows[("labels", "eq", 65, 0)].status == "skipped"
    honest = rows[("labels", "honest", 60, 0)]
    assert honest.result["rows"] == 60 and honest.result["labels_kept"] == 1.0
    assert honest.result["answer_tv"] > 0.0  # a label tells less than the probabilities
    assert rows[("open", "honest", 60, 0)].result["answer_tv"] == pytest.approx(0.0, abs=1e-9)
    store.close()
    again = run_campaign(campaign, tmp_path / "out", executor=LocalExecutor(1))
    assert (again.ran, again.reused) == (0, 14)


def test_a_store_of_another_campaign_is_refused_unless_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write(
        tmp_path, grid(attacks={"eq": {"attack": "eq-softmax", "budgets": [65]}}, honest=None), "a.yaml"
    )
    assert (
        main(["campaign", "run", str(first), "--out", str(tmp_path / "o"), "--workers", "1", "--no-report"])
        == 0
    )
    capsys.readouterr()
    second = write(
        tmp_path, grid(attacks={"eq": {"attack": "eq-softmax", "budgets": [65, 70]}}, honest=None), "b.yaml"
    )
    assert main(["campaign", "run", str(second), "--out", str(tmp_path / "o"), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "holds the results of another campaign" in err and "--resume" in err
    assert (
        main(["campaign", "run", str(second), "--out", str(tmp_path / "o"), "--workers", "1", "--resume"])
        == 0
    )
    out = capsys.readouterr().out
    assert "2 cells run" in out and "2 already done" in out  # only the new budget's cells ran


def _done(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM cells WHERE status = 'done'").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.e2e
def test_a_run_killed_with_sigkill_resumes_and_ends_as_a_clean_run(tmp_path: Path) -> None:
    spec = grid(
        attacks={"retrain": {"attack": "retrain-uniform", "options": {"hidden": 40}}},
        budgets=[60, 120, 180],
        seeds=[0, 1, 2],
        honest=None,
    )
    path = write(tmp_path, spec)
    killed = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "modelsteal",
        "campaign",
        "run",
        str(path),
        "--out",
        str(killed),
        "--workers",
        "1",
        "--no-report",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while _done(killed / "campaign.db") < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-grid"
    before = {r.id: r.finished for r in CampaignStore(killed).rows() if r.status == "done"}
    total = len(campaign_from_dict(spec).plan()[0])
    assert 4 <= len(before) < total
    resumed = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert (
        f"{total - len(before)} cells run" in resumed.stdout
        and f"{len(before)} already done" in resumed.stdout
    )
    after = CampaignStore(killed).rows()
    assert all(after_row.finished == before[after_row.id] for after_row in after if after_row.id in before)
    clean = tmp_path / "clean"
    run_campaign(load_campaign(path), clean, executor=LocalExecutor(1))
    assert comparable(after) == comparable(CampaignStore(clean).rows())


@pytest.mark.e2e
def test_over_http_the_cells_measure_what_they_measure_in_process(tmp_path: Path) -> None:
    spec = grid(
        attacks={"eq": {"attack": "eq-softmax", "budgets": [65]}, "retrain": {"attack": "retrain-uniform"}},
        budgets=[50],
        seeds=[0],
    )
    run_campaign(campaign_from_dict(spec), tmp_path / "local", executor=LocalExecutor(1))
    run_campaign(
        campaign_from_dict({**spec, "transport": "http"}), tmp_path / "http", executor=LocalExecutor(2)
    )
    local = CampaignStore(tmp_path / "local").rows()
    served = CampaignStore(tmp_path / "http").rows()
    assert len(local) == len(served) == 6
    for a, b in zip(comparable(local), comparable(served), strict=True):
        assert a["status"] == b["status"]
        assert a["result"] == b["result"]
    # cells share a gateway over HTTP but never a detector's key group: no alarm counts rows of another cell
    for row in served:
        assert all(at <= row.result.get("queries", 0) for at in (row.result.get("alarms") or {}).values())
    assert all(
        not p.name.endswith(".db") or p.stat().st_size > 0 for p in (tmp_path / "http" / "gateways").iterdir()
    )


@pytest.mark.e2e
def test_ray_runs_the_same_cells_to_the_same_results(tmp_path: Path) -> None:
    from modelsteal.campaigns.runner import RayExecutor  # Ray comes with the dev extra

    spec = grid(attacks={"retrain": {"attack": "retrain-uniform", "options": {"hidden": 20}}}, seeds=[0, 1])
    campaign = campaign_from_dict(spec)
    run_campaign(campaign, tmp_path / "local", executor=LocalExecutor(1))
    ray_executor = RayExecutor(workers=2)
    try:
        summary = run_campaign(campaign, tmp_path / "ray", executor=ray_executor)
    finally:
        ray_executor.close()
    assert summary.executor == "ray" and summary.ran == 12 and summary.failed == 0
    assert comparable(CampaignStore(tmp_path / "ray").rows()) == comparable(
        CampaignStore(tmp_path / "local").rows()
    )


def test_a_ray_address_that_does_not_answer_fails_fast_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(InvalidInput, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        check_ray_address(f"127.0.0.1:{port}", timeout=2.0)
    assert time.monotonic() - started < 5
    path = write(tmp_path, grid())
    code = main(
        [
            "campaign",
            "run",
            str(path),
            "--out",
            str(tmp_path / "o"),
            "--executor",
            "ray",
            "--address",
            f"127.0.0.1:{port}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and ("no Ray cluster answers" in err or "needs Ray" in err)
    assert not (tmp_path / "o" / "campaign.db").exists()  # refused before anything was written


def test_a_victim_directory_that_is_gone_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, grid(victims={"mine": {"path": "models/mine"}}))
    assert main(["campaign", "plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert "victims.mine.path" in err and "does not exist" in err


# ---------------------------------------------------------------------- export and report


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("campaign") / "out"
    spec = grid(
        victims={
            "softmax": {"train": {"dataset": "digits", "family": "softmax", "victim_rows": 673}},
            "softmax-c": {
                "train": {
                    "dataset": "digits",
                    "family": "softmax",
                    "victim_rows": 673,
                    "options": {"C": 0.01},
                }
            },
        },
        attacks={"eq": {"attack": "eq-softmax", "budgets": [65]}, "retrain": {"attack": "retrain-uniform"}},
        budgets=[40, 80],
        comparisons=[{"name": "C=1 vs C=0.01", "victims": ["softmax", "softmax-c"], "claim": "a test claim"}],
        ownership={
            "methods": ["sac-m-labels", "watermark"],
            "zoo": 5,
            "families": ["softmax"],
            "queries": 50,
        },
    )
    run_campaign(campaign_from_dict(spec), out, executor=LocalExecutor(2))
    return out


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_writes_every_cell(finished: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = finished / f"export.{fmt}"
    assert main(["campaign", "export", str(finished), "--format", fmt, "--output", str(target)]) == 0
    expected = len(CampaignStore(finished).rows())
    if fmt == "jsonl":
        lines = [json.loads(line) for line in target.read_text().splitlines()]
        assert len(lines) == expected and all("result" in line for line in lines)
        return
    frame = pd.read_csv(target) if fmt == "csv" else pd.read_parquet(target)
    assert len(frame) == expected
    assert {
        "id",
        "victim",
        "policy",
        "attack",
        "budget",
        "seed",
        "status",
        "fidelity_test",
        "queries",
    } <= set(frame.columns)
    assert "alarm_narrow_range" in frame.columns


def test_the_report_is_one_file_with_figures_tables_and_the_raw_results(finished: Path) -> None:
    path = build_report(finished)
    page = path.read_text()
    assert page.count("<svg") >= 6  # 2 heatmaps, 2 curve sets, detection, utility, the comparison
    for remote in ('src="http', 'href="http', "@import", "url(http"):
        assert remote not in page
    start = page.index('<script type="application/json" id="results">') + len(
        '<script type="application/json" id="results">'
    )
    raw = json.loads(page[start : page.index("</script>", start)].replace("<\\/", "</"))
    assert len(raw["cells"]) == len(CampaignStore(finished).rows())
    assert "C=1 vs C=0.01" in page and "a test claim" in page and "paired cells" in page
    assert "eq-softmax needs probability vectors" in page  # the skipped cells are listed with the reason
    assert "copies convicted" in page and "holds no watermark" in page


def test_every_copy_is_verified_against_the_victims_independent_models(finished: Path) -> None:
    rows = [r for r in CampaignStore(finished).rows() if r.kind == "attack" and r.status == "done"]
    assert rows and all(set(r.result["ownership"]) == {"sac-m-labels", "watermark"} for r in rows)
    for r in rows:
        verdict = r.result["ownership"]["sac-m-labels"]
        assert "error" not in verdict, verdict
        assert verdict["queries"] == 50 and verdict["independents"] == 5 and 0.0 <= verdict["p_value"] <= 1.0
        assert verdict["stolen"] == (verdict["p_value"] < verdict["alpha"])
        assert "holds no watermark" in r.result["ownership"]["watermark"]["error"]
    # equation solving copies the softmax exactly: its answers are the owner's, far from any independent's
    exact = [r for r in rows if r.attack == "eq" and r.policy == "open" and r.victim == "softmax"]
    assert exact and all(r.result["ownership"]["sac-m-labels"]["stolen"] for r in exact)


@pytest.mark.e2e
def test_the_report_renders_in_a_real_browser_offline(finished: Path, tmp_path: Path) -> None:
    """Debian's Chromium, driven by Playwright: no script error, nothing fetched but the file and
    data: addresses, every figure drawn, and a click on a column header sorts the table."""
    from tests.browser import CHROMIUM, browser_or_skip

    page_path = build_report(finished)
    with browser_or_skip() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        requests: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("request", lambda request: requests.append(request.url))
        page.goto(page_path.resolve().as_uri())
        page.wait_for_load_state("load")
        assert errors == []
        assert requests and all(url.startswith(("file:", "data:")) for url in requests), requests
        figures = page.locator("figure.plot svg")
        assert figures.count() >= 6
        for i in range(figures.count()):
            box = figures.nth(i).bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 100
        headline = page.locator("#headline ~ table").first
        queries_column = [h.strip() for h in headline.locator("th").all_inner_texts()].index("queries")

        def column() -> list[float]:
            cells = headline.locator(f"tbody tr td:nth-child({queries_column + 1})").all_inner_texts()
            return [float(c.replace(",", "")) for c in cells]

        headline.locator("th").nth(queries_column).click()
        assert column() == sorted(column())
        headline.locator("th").nth(queries_column).click()
        assert column() == sorted(column(), reverse=True)
        assert (
            page.locator("#download")
            .get_attribute("href", timeout=1000)
            .startswith("data:application/json;base64,")
        )
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert (tmp_path / "report.png").stat().st_size > 10_000, f"screenshot by {CHROMIUM}"


@pytest.mark.e2e
def test_report_writes_a_screenshot_from_the_command_line(finished: Path, tmp_path: Path) -> None:
    from tests.browser import browser_or_skip

    with browser_or_skip():
        pass  # skips (and says so in the summary) where there is no browser
    shot = tmp_path / "report.png"
    assert (
        main(["report", str(finished), "--output", str(tmp_path / "r.html"), "--screenshot", str(shot)]) == 0
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_every_client_slot_has_its_own_network_and_stretch_of_time() -> None:
    from modelsteal.campaigns.cells import SLOT_SECONDS, client_address, created_at

    width = 5
    networks = {client_address(slot, width, j).rsplit(".", 1)[0] for slot in range(400) for j in range(width)}
    assert len(networks) == 400 * width
    assert all(client_address(s, width, 0).startswith("127.") for s in range(400))
    # an honest client up to 60 days old stays inside its cell's stretch
    assert created_at(3, -60 * 86400.0) > created_at(4) and created_at(3) - created_at(4) == SLOT_SECONDS


def test_what_an_answer_tells_is_a_distribution_over_every_class() -> None:
    import numpy as np

    from modelsteal.campaigns.cells import seen_distribution
    from modelsteal.oracle.answers import Answers

    labels = Answers(labels=np.array([2, 0]))
    assert seen_distribution(labels, 4).tolist() == [[0, 0, 1, 0], [1, 0, 0, 0]]
    top = Answers(
        labels=np.array([1]), top_k_classes=np.array([[1, 3]]), top_k_probabilities=np.array([[0.6, 0.2]])
    )
    assert np.allclose(seen_distribution(top, 4), [[0.1, 0.6, 0.1, 0.2]])


@pytest.mark.e2e
def test_a_remote_victim_is_stolen_as_served_and_judged_on_its_eval_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelsteal.datasets import load_dataset
    from modelsteal.victims import save_model_dir, train_victim
    from tests.servers import create_key, gateway_server

    data = load_dataset("digits")
    model_dir = save_model_dir(
        train_victim(data, "softmax", seed=0), data, tmp_path / "remote", seed=0, name="remote"
    )
    db = tmp_path / "gateway.db"
    key = create_key(db, "campaign")
    monkeypatch.setenv("REMOTE_KEY", key)
    with gateway_server([model_dir], db) as (url, _):
        spec = grid(
            victims={
                "theirs": {
                    "url": f"{url}/v1/models/remote",
                    "api_key_env": "REMOTE_KEY",
                    "eval": str(model_dir),
                }
            },
            attacks={"eq": {"attack": "eq-softmax", "budgets": [65]}},
            honest=None,
            seeds=[0],
        )
        campaign = campaign_from_dict(spec)
        cells, skipped = campaign.plan()
        assert [c.policy_name for c in cells] == ["served"] and not skipped  # one cell: the API as served
        run_campaign(campaign, tmp_path / "out", executor=LocalExecutor(1))
    (row,) = CampaignStore(tmp_path / "out").rows()
    assert row.status == "done" and row.policy == "served"
    assert row.result["queries"] == 65 and row.result["fidelity_test"] == pytest.approx(1.0)
    assert row.result["money"] == pytest.approx(65 * 0.001)  # the server's default price, read from its usage


def test_a_remote_victim_without_its_key_fails_its_cells_with_the_fix(tmp_path: Path) -> None:
    from modelsteal.datasets import load_dataset
    from modelsteal.victims import save_model_dir, train_victim

    data = load_dataset("digits")
    judge = save_model_dir(train_victim(data, "softmax", seed=0), data, tmp_path / "judge", seed=0)
    with pytest.raises(InvalidInput, match=r"victims.theirs.eval: .* is not a model directory"):
        campaign_from_dict(
            grid(victims={"theirs": {"url": "http://127.0.0.1:9/v1/models/x", "eval": str(tmp_path)}})
        )
    spec = grid(
        victims={
            "theirs": {
                "url": "http://127.0.0.1:9/v1/models/x",
                "api_key_env": "NO_SUCH_KEY_VAR",
                "eval": str(judge),
            }
        },
        attacks={"eq": {"attack": "eq-softmax", "budgets": [65]}},
        honest=None,
        seeds=[0],
    )
    summary = run_campaign(campaign_from_dict(spec), tmp_path / "out", executor=LocalExecutor(1))
    assert summary.failed == 1 and "set $NO_SUCH_KEY_VAR" in summary.failures[0]

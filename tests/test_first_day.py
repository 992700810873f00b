"""A new user's first day: one test per defect the newcomer's report found (issue 11).

Each test names the numbered item it covers; each failed on the code before the mend.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from modelsteal.cli import main
from modelsteal.datasets import load_dataset
from modelsteal.datasets.examples import write_loans_csv
from modelsteal.errors import BatchTooLarge, RateLimited
from modelsteal.gateway import Gateway, GatewayError, Policy, ServedModel, Store, Tier, create_app
from modelsteal.gateway.limiter import RowLimiter
from modelsteal.gateway.transport import GatewayTransport
from modelsteal.oracle import Oracle
from modelsteal.victims import save_model_dir, train_victim
from tests.servers import InProcess, create_key, free_port, gateway_server, redis_executable

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``modelsteal ARGS`` in a child process, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "modelsteal", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        check=False,
    )


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory, victim_factory: Callable) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dirs")
    out = {}
    for name, (dataset, family) in {
        "iris-ovr": ("iris", "ovr"),
        "digits-softmax": ("digits", "softmax"),
        "loans-softmax": ("loans", "softmax"),
    }.items():
        victim, data = victim_factory(dataset, family)
        out[name] = save_model_dir(victim, data, root / name, seed=0)
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, dirs: dict[str, Path]) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("gw")
    policy = root / "policy.yaml"
    policy.write_text(
        "tiers:\n"
        "  default: {key_limits: ['100000/day'], ip_limits: ['1000000/day']}\n"
        "  tight: {key_limits: ['5/2 seconds', '100000/day'], ip_limits: ['1000000/day']}\n"
        "  daily: {key_limits: ['5/day'], ip_limits: ['1000000/day']}\n"
        "allow_missing: true\n"
    )
    db = root / "gw.db"
    with gateway_server(list(dirs.values()), db, policy=policy) as (url, _):
        yield {"url": url, "db": db, "root": root}


def new_key(server: dict, name: str, tier: str = "default") -> str:
    return create_key(server["db"], name, tier)


def usage(server: dict, key: str) -> dict:
    return httpx.get(server["url"] + "/v1/usage", headers={"Authorization": f"Bearer {key}"}).json()


# ---------------------------------------------------------------------- 1, 2: set-up
def test_1_redis_comes_from_the_install_not_from_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    exe = redis_executable()
    assert Path(exe).is_file() and os.access(exe, os.X_OK)
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    assert "Redis server" in out


def test_2_no_test_writes_a_tracked_file() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", ".schemathesis"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert tracked == ""
    assert ".schemathesis/" in (ROOT / ".gitignore").read_text().splitlines()
    source = (ROOT / "tests" / "test_gateway_schemathesis.py").read_text()
    assert "cwd=tmp_path" in source  # its cache goes to the test's folder


# ---------------------------------------------------------------------- 3: --wait
@pytest.mark.e2e
def test_3_a_batch_larger_than_a_rate_limit_is_split_and_waited_out(server: dict) -> None:
    key = new_key(server, "waiter", "tight")
    url = server["url"] + "/v1/models/iris-ovr"
    done = run_cli("attack", url, "--api-key", key, "--attack", "eq-ovr", "--budget", "8", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["queries"] == 8
    assert "waiting" in done.stderr  # the user sees each wait, never a silent retry
    assert usage(server, key)["rows"] == 8  # the 413 that made it split charged nothing


@pytest.mark.e2e
def test_3_a_limit_that_cannot_be_waited_out_exits_2(server: dict) -> None:
    key = new_key(server, "daily", "daily")
    url = server["url"] + "/v1/models/iris-ovr"
    done = run_cli(
        "attack", url, "--api-key", key, "--attack", "eq-ovr", "--budget", "8", "--wait", "--max-wait", "60"
    )
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("modelsteal: error:") and "quota" in last
    # the attack probes the box centre first (1 row, charged); the oracle then splits the
    # next 7 rows into pieces of 5 (the quota), and no piece fits the 4 rows left today
    assert usage(server, key)["rows"] == 1


def test_3_oracle_splits_on_batch_exceeds_limit_in_process(tmp_path: Path, victim_factory: Callable) -> None:
    victim, data = victim_factory("iris", "ovr")
    policy = Policy(tiers={"default": Tier("default", key_limits=("5/day",), ip_limits=("100/day",))})
    gateway = Gateway(
        [ServedModel("iris", victim, data.class_names)], policy=policy, store=Store(tmp_path / "g")
    )
    transport = GatewayTransport(gateway, gateway.store.create_key("k"), "iris")
    with pytest.raises(BatchTooLarge) as info:
        transport.send(data.X_test[:8])
    assert info.value.max_rows == 5 and info.value.code == "batch_exceeds_limit"
    oracle = Oracle(transport)
    with pytest.raises(RateLimited, match="quota_exceeded"):
        oracle.query(data.X_test[:8])
    assert oracle.queries == 5 and gateway.store.client("k").rows == 5


# ---------------------------------------------------------------------- 4: --eval mismatch
def test_4_eval_of_another_model_is_refused_before_a_query(server: dict, dirs: dict[str, Path]) -> None:
    key = new_key(server, "mismatch")
    url = server["url"] + "/v1/models/iris-ovr"
    args = ("attack", url, "--api-key", key, "--attack", "eq-ovr", "--budget", "8")
    done = run_cli(*args, "--eval", str(dirs["digits-softmax"]))
    assert done.returncode == 2
    assert "--eval" in done.stderr and "64 features" in done.stderr and "Traceback" not in done.stderr
    assert usage(server, key)["rows"] == 0


# ---------------------------------------------------------------------- 5: tiny CSV
@pytest.mark.parametrize("rows", [2, 3, 4])
def test_5_a_csv_of_a_few_rows_gets_one_line(
    tmp_path: Path, rows: int, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "tiny.csv"
    csv.write_text("x,y\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(rows)))
    code = main(
        ["train", "--csv", str(csv), "--target", "y", "--model", "softmax", "--out", str(tmp_path / "m")]
    )
    err = capsys.readouterr().err
    if code == 0:  # three or four rows can hold both classes in the training split
        assert rows >= 3 and (tmp_path / "m" / "card.json").is_file()
        return
    assert rows == 2  # one training row holds one class
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "at least 2 rows" in err


# ---------------------------------------------------------------------- 6: Redis down
@pytest.mark.e2e
def test_6_serve_refuses_to_start_without_its_redis(dirs: dict[str, Path], tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}"
    done = run_cli(
        "serve",
        str(dirs["iris-ovr"]),
        "--db",
        str(tmp_path / "g.db"),
        "--redis-url",
        dead,
        "--port",
        str(free_port()),
        timeout=60,
    )
    assert done.returncode == 2 and "serving" not in done.stdout
    assert "did not answer" in done.stderr and "--redis-url" in done.stderr


def test_6_redis_that_dies_later_gives_503_and_charges_nothing(
    tmp_path: Path, victim_factory: Callable
) -> None:
    victim, data = victim_factory("iris", "ovr")
    gateway = Gateway(
        [ServedModel("iris", victim, data.class_names)],
        store=Store(tmp_path / "g.db"),
        limiter=RowLimiter(f"redis://127.0.0.1:{free_port()}"),
    )
    client = gateway.store.create_key("k")
    with pytest.raises(GatewayError) as info:
        gateway.predict(gateway.authenticate(client), "iris", data.X_test[:2].tolist(), ip="1.2.3.4")
    assert (info.value.status, info.value.code) == (503, "limiter_unavailable")
    assert gateway.store.client("k").rows == 0
    row = gateway.store.log(1)[0]
    assert (row["status"], row["code"], row["charged_rows"], row["cost"]) == (
        503,
        "limiter_unavailable",
        0,
        0.0,
    )
    app = create_app(gateway)
    c = InProcess(app)
    r = c.get("/v1/usage", headers={"Authorization": f"Bearer {client}"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "limiter_unavailable"


# ---------------------------------------------------------------------- 7: unknown tier
@pytest.mark.e2e
def test_7_a_key_of_a_tier_the_policy_lacks_is_never_served_as_default(
    tmp_path: Path, dirs: dict[str, Path], victim_factory: Callable
) -> None:
    db = tmp_path / "g.db"
    done = run_cli("keys", "create", "--db", str(db), "--name", "bob", "--tier", "pro")
    assert done.returncode == 0 and "not checked" in done.stderr
    started = run_cli("serve", str(dirs["iris-ovr"]), "--db", str(db), "--port", str(free_port()), timeout=60)
    assert started.returncode == 2 and "serving" not in started.stdout
    assert "bob" in started.stderr and "pro" in started.stderr
    victim, data = victim_factory("iris", "ovr")
    gateway = Gateway([ServedModel("iris", victim, data.class_names)], store=Store(tmp_path / "h.db"))
    key = gateway.store.create_key("carol", "pro")
    with pytest.raises(GatewayError) as info:
        gateway.authenticate(key)
    assert (info.value.status, info.value.code) == (403, "unknown_tier")


# ---------------------------------------------------------------------- 8: pools from the victim's CSV
def test_8_a_csv_victim_trained_on_some_rows_leaves_the_rest_as_the_pool(tmp_path: Path) -> None:
    csv = write_loans_csv(tmp_path / "loans.csv")
    out = tmp_path / "loans-mlp"
    assert (
        main(
            [
                "train",
                "--csv",
                str(csv),
                "--target",
                "risk",
                "--model",
                "mlp",
                "--victim-rows",
                "150",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert (out / "pool.npz").is_file()
    assert main(["attack", str(out), "--attack", "knockoff", "--budget", "100", "--json"]) == 0
    # the very CSV the victim was trained on is a valid pool: text columns are encoded here
    assert main(["attack", str(out), "--attack", "copycat", "--budget", "100", "--pool-csv", str(csv)]) == 0


# ---------------------------------------------------------------------- 9: --json keys
def test_9_json_over_http_without_eval_holds_every_key(server: dict) -> None:
    key = new_key(server, "jsonless")
    done = run_cli(
        "attack",
        server["url"] + "/v1/models/iris-ovr",
        "--api-key",
        key,
        "--attack",
        "eq-ovr",
        "--budget",
        "8",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    for name in (
        "attack",
        "queries",
        "seconds",
        "cost",
        "fidelity_test",
        "fidelity_uniform",
        "tv_test",
        "evaluated",
    ):
        assert name in summary
    assert summary["evaluated"] is False and summary["fidelity_test"] is None
    assert "--eval DIR" in done.stdout


# ---------------------------------------------------------------------- 10: port, bad HTTP
@pytest.mark.e2e
def test_10_a_busy_port_exits_2_before_serving(dirs: dict[str, Path], tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = run_cli(
            "serve", str(dirs["iris-ovr"]), "--db", str(tmp_path / "g.db"), "--port", str(port), timeout=60
        )
    assert done.returncode == 2 and "serving" not in done.stdout
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr


def test_10_a_lying_content_length_gets_a_json_400(server: dict) -> None:
    host, port = server["url"].removeprefix("http://").split(":")
    body = b'{"instances": [[1, 2, 3, 4]]}'
    request = (
        b"POST /v1/models/iris-ovr/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 3\r\n\r\n" + body
    )
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    last = reply[reply.rindex(b"HTTP/1.1 400") :]  # the extra bytes were taken for a second request
    head, _, payload = last.partition(b"\r\n\r\n")
    assert b"application/json" in head
    assert json.loads(payload)["error"]["code"] == "bad_http"


# ---------------------------------------------------------------------- 11: overwrite
def test_11_train_never_overwrites_a_model_directory_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m"
    args = ["train", "--dataset", "iris", "--model", "softmax", "--out", str(out)]
    assert main(args) == 0
    card = (out / "card.json").read_text()
    capsys.readouterr()
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "card.json").read_text() == card
    assert main([*args, "--seed", "1", "--force"]) == 0
    assert json.loads((out / "card.json").read_text())["seed"] == 1


# ---------------------------------------------------------------------- 12: messages
def test_12_messages_name_the_fix(
    tmp_path: Path, server: dict, dirs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # the ReLU attack on one-hot features suggests what works instead
    assert (
        main(
            [
                "attack",
                str(dirs["loans-softmax"]),
                "--attack",
                "eq-mlp",
                "--activation",
                "relu",
                "--budget",
                "100",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "retrain-adaptive" in err and "--pool-csv" in err
    # a single class after dropping rows says so
    csv = tmp_path / "drop.csv"
    csv.write_text("x,z,y\n1,a,p\n2,b,p\n3,,q\n4,,q\n")
    assert (
        main(
            ["train", "--csv", str(csv), "--target", "y", "--model", "softmax", "--out", str(tmp_path / "m")]
        )
        == 2
    )
    assert "after dropping 2 rows" in capsys.readouterr().err
    # a YAML error is one line with where it is
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers:\n  default:\n    key_limits: ['1/day'\n  pro: {}\n")
    assert main(["keys", "create", "--db", str(tmp_path / "k.db"), "--name", "a", "--policy", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "line 4, column 3" in err
    key = new_key(server, "messages")
    auth = {"Authorization": f"Bearer {key}"}
    predict = server["url"] + "/v1/models/{}/predict"
    r = httpx.post(predict.format("iris-ovr"), json={"instances": 5}, headers=auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = httpx.post(predict.format("iris-ovr"), json={"instances": [[None, 1, 1, 1]]}, headers=auth)
    assert (
        r.json()["error"]["code"] == "missing_feature"
        and "only decision trees" in r.json()["error"]["message"]
    )


def test_12_retry_after_header_and_message_agree(tmp_path: Path, victim_factory: Callable) -> None:
    victim, data = victim_factory("iris", "ovr")
    policy = Policy(tiers={"default": Tier("default", key_limits=("5/hour",), ip_limits=("100/day",))})
    gateway = Gateway(
        [ServedModel("iris", victim, data.class_names)], policy=policy, store=Store(tmp_path / "g")
    )
    key = gateway.store.create_key("k")
    app = create_app(gateway)
    c = InProcess(app)
    body = {"instances": data.X_test[:4].tolist()}
    assert (
        c.post("/v1/models/iris/predict", json=body, headers={"Authorization": f"Bearer {key}"}).status_code
        == 200
    )
    r = c.post("/v1/models/iris/predict", json=body, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 429
    seconds = r.headers["retry-after"]
    assert f"retry after {seconds} s" in r.json()["error"]["message"]
    assert float(seconds) == r.json()["error"]["retry_after"]


def test_12_every_refusal_takes_its_status_from_the_one_table_and_readme_names_it() -> None:
    from modelsteal.errors import REFUSALS, APIRefusal

    # a refusal is built from its code alone; its status is the table's
    for code, status in REFUSALS.items():
        refusal = GatewayError(code, "why and the fix")
        assert refusal.status == status and refusal.body()["error"]["code"] == code
    with pytest.raises(ValueError, match="not a refusal code"):
        APIRefusal("no_such_code", "a code the table lacks is a programming error")
    readme = (ROOT / "README.md").read_text()
    missing = sorted(c for c in REFUSALS if f"`{c}`" not in readme)
    assert missing == []
    # the OpenAPI schema lists each status's codes from the same table
    from modelsteal.gateway.app import ERRORS

    assert all(c in ERRORS[str(s)]["description"] for c, s in REFUSALS.items())


# ---------------------------------------------------------------------- 15: friction
def test_15_light_commands_do_not_import_torch() -> None:
    probe = (
        "import sys\n"
        "from modelsteal.cli import main\n"
        "for argv in (['datasets'], ['attacks'], ['keys', 'list', '--db', '/nonexistent.db']):\n"
        "    main(argv)\n"
        "heavy = sorted(m for m in ('torch', 'sklearn', 'fastapi', 'scipy.stats') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_15_version_and_keys_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from modelsteal import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"modelsteal {__version__}"
    missing = tmp_path / "nothing.db"
    assert main(["keys", "list", "--db", str(missing)]) == 2 and not missing.exists()
    db = str(tmp_path / "k.db")
    assert main(["keys", "create", "--db", db, "--name", "ann"]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--db", db, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in listed] == ["ann"] and listed[0]["rows"] == 0


def test_15_piped_progress_is_one_line_per_stage(dirs: dict[str, Path]) -> None:
    done = run_cli("attack", str(dirs["iris-ovr"]), "--attack", "eq-ovr", "--budget", "8")
    assert done.returncode == 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stealing ") and "8/8 queries in" in lines[0]


def test_15_id_like_columns_and_many_class_targets_warn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    rows = [f"{i},c{i},{rng.integers(0, 100)},{'ab'[i % 2]}" for i in range(60)]
    csv = tmp_path / "ids.csv"
    csv.write_text("row,code,amount,y\n" + "\n".join(rows) + "\n")
    assert (
        main(
            ["train", "--csv", str(csv), "--target", "y", "--model", "softmax", "--out", str(tmp_path / "m")]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "'row' numbers the rows" in err and "'code' has 60 distinct text values" in err
    assert main(
        ["train", "--csv", str(csv), "--target", "amount", "--model", "tree", "--out", str(tmp_path / "n")]
    ) in (0, 2)
    assert "is numeric with" in capsys.readouterr().err


def test_15_a_tree_stolen_from_probabilities_says_why_fidelity_falls(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert (
        main(
            [
                "train",
                "--dataset",
                "breast_cancer",
                "--model",
                "tree",
                "--max-leaves",
                "20",
                "--out",
                str(tmp_path / "t"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "attack",
                str(tmp_path / "t"),
                "--attack",
                "path-finding",
                "--budget",
                "2000",
                "--variant",
                "bottom-up",
                "--no-incomplete",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "distinct answers" in out and "pure" in out and "--output-mode confidence" in out


def test_15_csv_victims_take_rows_as_objects_of_column_values(server: dict) -> None:
    key = new_key(server, "objects")
    auth = {"Authorization": f"Bearer {key}"}
    model = httpx.get(server["url"] + "/v1/models/loans-softmax", headers=auth).json()
    space = model["feature_space"]
    groups = {g["name"]: g["levels"] for g in space["categorical"]}
    grouped = {n for g in space["categorical"] for n in (f"{g['name']}={lvl}" for lvl in g["levels"])}
    numeric = [n for n in space["names"] if n not in grouped]
    record = {
        n: (lo + hi) / 2
        for n, lo, hi in zip(space["names"], space["lower"], space["upper"], strict=True)
        if n in numeric
    }
    record |= {name: levels[0] for name, levels in groups.items()}
    url = server["url"] + "/v1/models/loans-softmax/predict"
    by_object = httpx.post(url, json={"instances": [record]}, headers=auth)
    assert by_object.status_code == 200, by_object.text
    row = [
        record[n] if n in numeric else float(n.split("=", 1)[1] == record[n.split("=", 1)[0]])
        for n in space["names"]
    ]
    by_row = httpx.post(url, json={"instances": [row]}, headers=auth)
    assert by_object.json()["predictions"] == by_row.json()["predictions"]
    name = next(iter(groups))
    bad = httpx.post(url, json={"instances": [record | {name: "Atlantis"}]}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_level"
    assert "Atlantis" in bad.json()["error"]["message"]
    schema = httpx.get(server["url"] + "/openapi.json").json()
    assert "original columns" in json.dumps(schema)


# ---------------------------------------------------------------------- 16: any image
def png(pixels: np.ndarray, mode: str = "L") -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), mode=mode).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_16_the_missions_example_request_is_answered(
    server: dict, tmp_path: Path, victim_factory: Callable
) -> None:
    key = new_key(server, "image")
    black = png(np.zeros((1, 1)))
    r = httpx.post(
        server["url"] + "/predict?model=digits-softmax",
        json={"image_base64": black},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"class", "confidence"} and 0 < r.json()["confidence"] <= 1
    rgb = png(np.full((32, 24, 3), 255), mode="RGB")
    r = httpx.post(
        server["url"] + "/predict?model=digits-softmax",
        json={"image_base64": rgb},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 200
    schema = json.dumps(httpx.get(server["url"] + "/openapi.json").json())
    assert "bilinear" in schema
    victim, data = victim_factory("digits", "softmax")
    strict = Gateway(
        [ServedModel("digits", victim, data.class_names)],
        policy=Policy(image_input="refuse"),
        store=Store(tmp_path / "strict.db"),
    )
    app = create_app(strict)
    c = InProcess(app)
    headers = {"Authorization": f"Bearer {strict.store.create_key('s')}"}
    r = c.post("/predict", json={"image_base64": black}, headers=headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "image_size"
    r = c.post("/predict", json={"image_base64": base64.b64encode(b"not an image").decode()}, headers=headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_image"


def test_train_victim_refuses_a_class_without_training_rows() -> None:
    data = load_dataset("iris")
    from dataclasses import replace

    from modelsteal.errors import InvalidInput

    only_two = replace(data, X_train=data.X_train[data.y_train < 2], y_train=data.y_train[data.y_train < 2])
    with pytest.raises(InvalidInput, match="no row in the training split"):
        train_victim(only_two, "softmax")

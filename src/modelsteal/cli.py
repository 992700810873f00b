"""``modelsteal``: train victims, steal them, read how faithful the copy is.

Errors a user can cause print one line naming the fix and exit with status 2.
"""

# lazy imports: each command imports what it runs when it runs, so `--help`, `datasets`,
# `attacks` and `keys` start without torch, scikit-learn or FastAPI (test_15_light_commands...)
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from modelsteal.catalog import (
    ACTIVATIONS,
    MODEL_FAMILIES,
    OUTPUT_KINDS,
    POOL_KINDS,
    PROTOCOLS,
    WATERMARK_TRIGGERS,
    WATERMARKS,
)
from modelsteal.errors import ModelStealError
from modelsteal.registry import ATTACKS

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"modelsteal: error: {message} (see `{self.prog} --help`)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    from modelsteal import __version__

    parser = _Parser(
        prog="modelsteal",
        description="Attack, defend and prove ownership of models behind prediction APIs.",
    )
    parser.add_argument("--version", action="version", version=f"modelsteal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    _add_datasets(sub)
    _add_attacks(sub)
    _add_example_csv(sub)
    _add_train(sub)
    _add_import(sub)
    _add_audit(sub)
    _add_detect_eval(sub)
    _add_serve(sub)
    _add_keys(sub)
    _add_defend_eval(sub)
    _add_zoo(sub)
    _add_verify(sub)
    _add_attack(sub)
    from modelsteal.campaigns.commands import add_parsers as add_campaign_parsers

    add_campaign_parsers(sub)
    return parser


def _add_datasets(sub: Any) -> None:
    """``modelsteal datasets``."""
    sub.add_parser("datasets", help="list the bundled data sets")


def _add_attacks(sub: Any) -> None:
    """``modelsteal attacks``."""
    attacks = sub.add_parser("attacks", help="list the attacks")
    attacks.add_argument(
        "--details",
        action="store_true",
        help="also what each reads, the families it targets, its pool, strategies and parameters",
    )


def _add_example_csv(sub: Any) -> None:
    """``modelsteal example-csv``."""
    example = sub.add_parser(
        "example-csv", help="write a generated credit-risk CSV (text columns, missing cells) to try --csv on"
    )
    example.add_argument("out", type=Path, help="the CSV file to write")
    example.add_argument("--rows", type=_positive_int, default=600)
    example.add_argument("--seed", type=_positive_int, default=0)


def _add_train(sub: Any) -> None:
    """``modelsteal train``: the data, the family and its knobs."""
    train = sub.add_parser("train", help="train a victim and write its model directory")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="a bundled data set (see `modelsteal datasets`)")
    source.add_argument("--csv", type=Path, help="your own CSV file (with --target)")
    train.add_argument("--target", help="the label column of --csv")
    train.add_argument("--model", required=True, choices=list(MODEL_FAMILIES), help="model family")
    train.add_argument("--out", required=True, type=Path, help="model directory to write")
    train.add_argument("--force", action="store_true", help="replace --out if it exists")
    train.add_argument("--seed", type=_positive_int, default=0)
    train.add_argument("--hidden", type=_positive_int, default=20, help="mlp: hidden units (default 20)")
    train.add_argument(
        "--activation", choices=ACTIVATIONS, default="relu", help="mlp: activation (default relu)"
    )
    train.add_argument(
        "--max-leaves", type=_positive_int, default=100, help="tree: most leaves (default 100)"
    )
    train.add_argument("--epochs", type=_positive_int, default=15, help="cnn: training epochs (default 15)")
    train.add_argument(
        "--cnn-width",
        type=_positive_int,
        default=1,
        metavar="W",
        help="cnn, cnn-semi: W times the default width (channels 16W and 32W, hidden 64W; default 1); "
        "a watermark costs a wider network less clean accuracy",
    )
    train.add_argument(
        "--C",
        type=float,
        default=1.0,
        dest="C",
        help="logreg, softmax, ovr, svm-rbf: inverse regularisation (default 1)",
    )
    train.add_argument(
        "--feature-extraction",
        metavar="quantile-bins[:K]",
        help="logreg/softmax: bin every number into K quantiles (default 10) before the model, as Amazon ML does",
    )
    train.add_argument(
        "--victim-rows",
        type=_positive_int,
        help="train on this many training rows; the rest become the thief's in-distribution pool",
    )
    train.add_argument(
        "--keep-private",
        action="store_true",
        help="keep the training rows in the model directory (private.npz, never served) for "
        "verify --method dataset-inference",
    )
    _add_training_defences(train)
    _add_watermark_options(train)


def _add_training_defences(train: argparse.ArgumentParser) -> None:
    """``train``'s defences trained into the model: outlier exposure, misinformation, DP-SGD, adversarial training."""
    train.add_argument(
        "--outlier-exposure",
        metavar="POOL",
        choices=("patches", "uniform", "resized"),
        help="cnn: also learn to answer uniformly on this pool (patches, uniform, resized), as "
        "adaptive misinformation needs (Hendrycks et al. 2019)",
    )
    train.add_argument(
        "--misinformation",
        action="store_true",
        help="cnn: train a misinformation model (mass on wrong classes) for the adaptive_misinformation transform",
    )
    train.add_argument(
        "--dp-epsilon",
        type=float,
        metavar="E",
        help="cnn: train with DP-SGD (Opacus) to (E, --dp-delta)-differential privacy",
    )
    train.add_argument(
        "--dp-delta", type=float, default=1e-5, metavar="D", help="cnn: DP-SGD's delta (default 1e-5)"
    )
    train.add_argument(
        "--dp-accountant",
        choices=("rdp", "prv"),
        default="rdp",
        help="cnn: Opacus's accountant; prv reaches smaller ε (0.1) than rdp (default rdp)",
    )
    train.add_argument(
        "--adversarial-training",
        type=float,
        metavar="EPS",
        help="cnn: PGD adversarial training within an L-infinity radius of EPS times each feature's range",
    )


def _add_watermark_options(train: argparse.ArgumentParser) -> None:
    """``train``'s watermarks."""
    train.add_argument(
        "--watermark",
        choices=WATERMARKS,
        help="cnn: embed a watermark: trigger (uniform inputs, random labels), margin (each trigger's "
        "label trained to hold in an L-infinity ball) or ewe (entangled: patched rows of one class "
        "labelled as another); the triggers stay in the model directory for modelsteal verify",
    )
    train.add_argument(
        "--watermark-size",
        type=_positive_int,
        default=100,
        help="cnn: triggers in the watermark (default 100)",
    )
    train.add_argument(
        "--watermark-triggers",
        choices=WATERMARK_TRIGGERS,
        default="uniform",
        help="--watermark trigger|margin: uniform inputs (default) or natural: training rows given a wrong "
        "label, as Kim et al. 2023 (they leave the clean training set)",
    )
    train.add_argument(
        "--watermark-margin",
        type=float,
        metavar="R",
        help="--watermark margin: the L-infinity radius each trigger's label is held within, a share of each "
        "feature's range (default 0.1; Kim et al. 2023 use about 0.02)",
    )
    train.add_argument(
        "--watermark-snnl",
        type=float,
        default=0.5,
        metavar="W",
        help="--watermark ewe: weight of the soft-nearest-neighbour entanglement (default 0.5)",
    )


def _add_import(sub: Any) -> None:
    """``modelsteal import``."""
    imp = sub.add_parser(
        "import", help="your own model (.onnx, or scikit-learn saved with skops) as a model directory"
    )
    imp.add_argument("model", type=Path, help="an .onnx file or a .skops file")
    imp.add_argument("--out", required=True, type=Path, help="model directory to write")
    imp.add_argument(
        "--csv",
        required=True,
        type=Path,
        help="a labelled sample: judges stolen copies; gives the feature space",
    )
    imp.add_argument("--target", required=True, help="the label column of --csv")
    imp.add_argument(
        "--feature-space", type=Path, help="YAML/JSON feature space (default: inferred from --csv)"
    )
    imp.add_argument(
        "--outputs",
        choices=("probabilities", "logits"),
        default="probabilities",
        help="what the ONNX model's score output holds (default probabilities)",
    )
    imp.add_argument("--name", help="the name the gateway serves it under (default: the directory's)")
    imp.add_argument("--force", action="store_true", help="replace --out if it exists")


def _add_audit(sub: Any) -> None:
    """``modelsteal audit``."""
    audit = sub.add_parser("audit", help="replay a gateway's query log through the detectors")
    audit.add_argument("--db", type=Path, required=True, help="the gateway's SQLite database")
    audit.add_argument(
        "--policy", type=Path, help="policy YAML whose detection section to use (default: all)"
    )
    audit.add_argument(
        "--model",
        type=Path,
        action="append",
        help="served model directory (repeat): detectors see its probabilities",
    )


def _add_detect_eval(sub: Any) -> None:
    """``modelsteal detect-eval``."""
    evaluation = sub.add_parser(
        "detect-eval", help="every attack and honest clients through a monitored gateway"
    )
    evaluation.add_argument(
        "--benign", type=_positive_int, default=20, help="benign clients per victim (default 20)"
    )
    evaluation.add_argument("--queries", type=_positive_int, default=1000, help="queries per benign client")
    evaluation.add_argument("--seed", type=_positive_int, default=0)


def _add_serve(sub: Any) -> None:
    """``modelsteal serve``."""
    serve = sub.add_parser("serve", help="serve model directories behind the defended gateway")
    serve.add_argument("dirs", nargs="*", type=Path, help="model directories to serve (by their names)")
    serve.add_argument(
        "--upstream",
        help="also serve a model from an existing server at this URL (with --protocol, --feature-space)",
    )
    serve.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        help="--upstream's protocol: tfserving, oip (KServe v2/Triton), mlflow, template, or modelsteal",
    )
    serve.add_argument(
        "--template", type=Path, help="with --protocol template: the upstream API's description"
    )
    serve.add_argument(
        "--feature-space", type=Path, help="--upstream's inputs and classes (YAML/JSON with a classes list)"
    )
    serve.add_argument(
        "--name", help="the name to serve --upstream under (default: the last part of its URL)"
    )
    serve.add_argument("--family", help="the model family to publish for --upstream (default: none)")
    serve.add_argument("--upstream-api-key", help="the key the gateway uses with --upstream, if it needs one")
    serve.add_argument(
        "--upstream-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for --upstream (default 10); then 504",
    )
    serve.add_argument("--policy", type=Path, help="policy YAML (tiers, limits, prices, output modes)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_positive_int, default=8000)
    serve.add_argument(
        "--db", type=Path, default=Path("modelsteal.db"), help="SQLite file: keys, usage, query log"
    )
    serve.add_argument(
        "--redis-url", help="share rate limits between gateway processes, e.g. redis://127.0.0.1:6379"
    )
    serve.add_argument("--admin-key", help="key for /v1/admin/ (default: $MODELSTEAL_ADMIN_KEY)")
    serve.add_argument(
        "--durable", action="store_true", help="fsync the log on every request (survives power loss)"
    )


def _add_keys(sub: Any) -> None:
    """``modelsteal keys``."""
    keys = sub.add_parser("keys", help="create, revoke and list API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, parser_class=_Parser)
    create = keys_sub.add_parser("create", help="create a key and print it once")
    create.add_argument(
        "--db",
        type=Path,
        default=Path("modelsteal.db"),
        help="the gateway's SQLite file (created if missing)",
    )
    create.add_argument("--name", required=True)
    create.add_argument("--tier", default="default")
    create.add_argument("--policy", type=Path, help="check the tier against this policy")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its name")
    revoke.add_argument("--db", type=Path, default=Path("modelsteal.db"), help="the gateway's SQLite file")
    revoke.add_argument("--name", required=True)
    listing = keys_sub.add_parser("list", help="list clients and their usage")
    listing.add_argument("--db", type=Path, default=Path("modelsteal.db"), help="the gateway's SQLite file")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a table")


def _add_defend_eval(sub: Any) -> None:
    """``modelsteal defend-eval``."""
    defend = sub.add_parser(
        "defend-eval",
        help="what a tier's answer-side defences cost honest users and leave thieves",
    )
    defend.add_argument("target", type=Path, help="a model directory")
    defend.add_argument("--policy", type=Path, required=True, help="the gateway policy (YAML)")
    defend.add_argument("--tier", default="default", help="the tier whose transforms and output mode to play")
    defend.add_argument(
        "--attack",
        action="append",
        choices=ATTACKS.names(),
        help="an attack to play (repeat); default: equation solving for linear models, knockoff and copycat",
    )
    defend.add_argument(
        "--budget", action="append", type=_positive_int, help="query budgets (repeat; default 250 and 1000)"
    )
    defend.add_argument(
        "--pool", choices=POOL_KINDS, help="the learning attacks' pool (default: in-distribution)"
    )
    defend.add_argument(
        "--aware", action="store_true", help="also play the thief who inverts a published reverse sigmoid"
    )
    defend.add_argument("--seed", type=_positive_int, default=0)
    defend.add_argument(
        "--n-uniform", type=_positive_int, default=5000, help="uniform points judging fidelity"
    )
    defend.add_argument("--json", action="store_true", help="also print the results as one JSON line")


def _add_zoo(sub: Any) -> None:
    """``modelsteal zoo``."""
    zoo = sub.add_parser(
        "zoo", help="train independent models on the owner's held-out rows: the null of ownership tests"
    )
    zoo.add_argument("owner", type=Path, help="the owner's model directory (trained with --victim-rows)")
    zoo.add_argument(
        "--size", type=_positive_int, default=20, help="independent models to train (default 20)"
    )
    zoo.add_argument(
        "--families",
        help=f"comma-separated model families, cycled (default: the owner's, then others; {', '.join(MODEL_FAMILIES)})",
    )
    zoo.add_argument("--out", type=Path, help="where to write them (default OWNER/zoo)")
    zoo.add_argument("--seed", type=_positive_int, default=0)


def _add_verify(sub: Any) -> None:
    """``modelsteal verify``."""
    verify = sub.add_parser("verify", help="is a suspect model a copy of the owner's? a calibrated p-value")
    verify.add_argument("suspect", help="a model directory, a .onnx file, or an http:// model address")
    verify.add_argument("--owner", type=Path, required=True, help="the owner's model directory")
    verify.add_argument(
        "--method",
        default="sac-m-labels",
        help="ownership method (see the list in README; default sac-m-labels)",
    )
    verify.add_argument(
        "--queries", type=_positive_int, default=100, help="queries the method may send (default 100)"
    )
    verify.add_argument(
        "--private-samples",
        type=_positive_int,
        default=50,
        metavar="M",
        help="--method dataset-inference*: the owner's private rows revealed, and as many public (default 50); "
        "its queries follow from M, not --queries",
    )
    verify.add_argument("--alpha", type=float, default=0.01, help="accuse when p < alpha (default 0.01)")
    verify.add_argument(
        "--null",
        choices=("t", "empirical"),
        default="t",
        help="p-value from a t fit of the independents (default) or their ranks (needs 1/alpha - 1 of them)",
    )
    verify.add_argument("--zoo", type=Path, help="the independent models (default OWNER/zoo)")
    verify.add_argument(
        "--watermarks", type=Path, help="--method dawn: the store the API's dawn transform wrote"
    )
    verify.add_argument(
        "--seed", type=_positive_int, default=0, help="the owner's secret seed for the queries"
    )
    verify.add_argument("--api-key", help="for an http:// suspect (or $MODELSTEAL_API_KEY)")
    verify.add_argument(
        "--protocol", choices=PROTOCOLS, default="modelsteal", help="an http:// suspect's API"
    )
    verify.add_argument("--template", type=Path, help="--protocol template: the API's declaration")
    verify.add_argument("--feature-space", type=Path, help="another server's inputs and classes")
    verify.add_argument("--json", action="store_true", help="also print the verdict as one JSON line")


def _add_attack(sub: Any) -> None:
    """``modelsteal attack``: the target, the attack and its budget."""
    attack = sub.add_parser("attack", help="steal a model and report fidelity")
    attack.add_argument("target", help="a model directory, or http://HOST:PORT/v1/models/NAME")
    attack.add_argument("--api-key", help="API key, for an http:// target (default: $MODELSTEAL_API_KEY)")
    attack.add_argument(
        "--eval", type=Path, help="model directory whose split and victim judge an http:// attack"
    )
    attack.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="modelsteal",
        help="the http:// API's protocol: ours (default), tfserving, oip (KServe v2/Triton), mlflow, template",
    )
    attack.add_argument("--template", type=Path, help="with --protocol template: the API's YAML description")
    attack.add_argument(
        "--feature-space",
        type=Path,
        help="another server's inputs and classes (YAML/JSON; default: those of --eval DIR)",
    )
    attack.add_argument("--wait", action="store_true", help="wait out 429 Retry-After instead of stopping")
    attack.add_argument(
        "--max-wait",
        type=float,
        default=3600.0,
        help="with --wait: give up after this many seconds of waiting in all (default 3600)",
    )
    attack.add_argument(
        "--attack",
        required=True,
        choices=ATTACKS.names(),
        metavar="NAME",
        help=f"one of: {', '.join(ATTACKS.names())}",
    )
    attack.add_argument("--budget", required=True, type=_positive_int, help="most queries (rows) to send")
    attack.add_argument("--seed", type=_positive_int, default=0)
    attack.add_argument(
        "--json",
        action="store_true",
        help="also print one JSON object on the last line (fidelity keys are null without a judge: see README)",
    )
    _add_published_options(attack)
    _add_thief_options(attack)


def _add_published_options(attack: argparse.ArgumentParser) -> None:
    """``attack``: what the API may not publish, and how it answers."""
    attack.add_argument("--family", help="model family, when the API does not publish it")
    attack.add_argument("--activation", choices=ACTIVATIONS, help="mlp activation, when not published")
    attack.add_argument("--hidden", type=_positive_int, help="mlp hidden units, when not published")
    attack.add_argument(
        "--output-mode", choices=OUTPUT_KINDS, default="probabilities", help="what the API returns"
    )
    attack.add_argument("--top-k", type=_positive_int, default=1, help="k for --output-mode top_k")
    attack.add_argument(
        "--variant", choices=("top-down", "bottom-up"), help="path-finding variant (default top-down)"
    )
    attack.add_argument(
        "--incomplete",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="path finding: use incomplete queries (default: when the API answers them)",
    )


def _add_thief_options(attack: argparse.ArgumentParser) -> None:
    """``attack``: the thief's data and options, export, hyperparameters, judging."""
    attack.add_argument(
        "--pool",
        choices=POOL_KINDS,
        help="learning attacks: the thief's data (default in-distribution)",
    )
    attack.add_argument("--pool-csv", type=Path, help="learning attacks: your own rows to query (CSV)")
    attack.add_argument(
        "--strategy",
        help="the attack's query strategy (knockoff: its policy; active: its strategy); "
        "`modelsteal attacks --details` lists each attack's",
    )
    attack.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any hyperparameter of the attack (repeat; VALUE is read as YAML: 3, 0.5, true, text); "
        "`modelsteal attacks --details` lists them",
    )
    attack.add_argument(
        "--labels-only",
        action="store_true",
        help="learning attacks: train on labels even given probabilities",
    )
    attack.add_argument(
        "--export",
        type=Path,
        help="write the stolen copy: FILE.onnx (runs in onnxruntime), or a model directory DIR",
    )
    attack.add_argument(
        "--steal-hyperparameters",
        action="store_true",
        help="after equation solving: the victim's regularisation strength C (Wang & Gong 2018); needs --train-data",
    )
    attack.add_argument(
        "--train-data", type=Path, help="the victim's training rows (CSV with the label column)"
    )
    attack.add_argument(
        "--train-target",
        help="the label column of --train-data (default: its one column that is not a feature)",
    )
    attack.add_argument("--epsilon", type=float, help="path finding: threshold precision (share of range)")
    attack.add_argument("--decimals", type=_positive_int, help="round returned probabilities")
    attack.add_argument("--n-uniform", type=_positive_int, default=10_000, help="uniform points for 1-R_unif")


def _cmd_campaign(args: argparse.Namespace) -> int:
    from modelsteal.campaigns.commands import cmd_campaign

    return cmd_campaign(args)


def _cmd_report(args: argparse.Namespace) -> int:
    from modelsteal.campaigns.commands import cmd_report

    return cmd_report(args)


def _cmd_datasets(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from modelsteal.catalog import DATASET_SUMMARIES

    table = Table(title="Bundled data sets (nothing is downloaded)")
    table.add_column("name")
    table.add_column("what")
    for name, summary in DATASET_SUMMARIES.items():
        table.add_row(name, summary)
    Console().print(table)
    print("Your own data: modelsteal train --csv PATH --target COLUMN ...")
    return 0


def _cmd_example_csv(args: argparse.Namespace) -> int:
    from modelsteal.datasets.examples import write_loans_csv
    from modelsteal.errors import InvalidInput

    if args.out.exists():
        raise InvalidInput(f"{args.out} exists; choose another file name")
    if args.rows < 20:
        raise InvalidInput("--rows must be at least 20")
    write_loans_csv(args.out, n_rows=args.rows, random_state=args.seed)
    print(
        f"wrote {args.out}: {args.rows} loans, target column 'risk' (good/bad), text columns housing and purpose"
    )
    return 0


def _cmd_attacks(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Attacks")
    table.add_column("name")
    if args.details:  # imports every attack (torch included) to read what each class says
        for column in ("reads", "targets", "pool", "strategies", "parameters"):
            table.add_column(column)
    table.add_column("what")
    for row in ATTACKS.rows():
        cells = [row.name]
        if args.details:
            cls = ATTACKS[row.name]
            cells += [
                cls.reads,
                ", ".join(cls.targets) or "any",
                "yes" if cls.takes_pool else "",
                f"{cls.strategy_param}: {'|'.join(cls.strategies)}" if cls.strategies else "",
                ", ".join(cls.param_names()),
            ]
        table.add_row(*cells, row.summary)
    Console().print(table)
    return 0


def _training_data(args: argparse.Namespace) -> tuple[Any, Any]:
    """The data ``train`` learns from, and the rows ``--victim-rows`` holds out as the pool."""
    from modelsteal.datasets import load_csv, load_dataset
    from modelsteal.errors import InvalidInput

    if args.csv is not None:
        if not args.target:
            raise InvalidInput("--csv needs --target COLUMN, the column to predict")
        data = load_csv(args.csv, args.target)
    else:
        data = load_dataset(args.dataset)
    for warning in data.info.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    pool = None
    if args.victim_rows is not None:
        from modelsteal.datasets.thief import split_for_theft

        data, held_out = split_for_theft(data, victim_rows=args.victim_rows, random_state=0)
        pool = (held_out.X, held_out.y, held_out.description)
    return data, pool


def _train_options(args: argparse.Namespace) -> Any:
    """``train``'s flags as :class:`TrainOptions`."""
    from modelsteal.victims import TrainOptions

    return TrainOptions(
        dp_epsilon=args.dp_epsilon,
        dp_delta=args.dp_delta,
        dp_accountant=args.dp_accountant,
        adversarial_eps=args.adversarial_training,
        watermark=args.watermark,
        watermark_size=args.watermark_size,
        watermark_snnl=args.watermark_snnl,
        watermark_triggers=args.watermark_triggers,
        watermark_margin=TrainOptions.watermark_margin
        if args.watermark_margin is None
        else args.watermark_margin,
        outlier_exposure=args.outlier_exposure,
        misinformation=args.misinformation,
        feature_extraction=args.feature_extraction,
        C=args.C,
        hidden=args.hidden,
        activation=args.activation,
        max_leaf_nodes=args.max_leaves,
        epochs=args.epochs,
        cnn_width=args.cnn_width,
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from modelsteal.errors import InvalidInput
    from modelsteal.victims import save_model_dir, train_victim
    from modelsteal.victims.model_dir import check_writable
    from modelsteal.victims.training import test_accuracy

    check_writable(args.out, overwrite=args.force)  # before minutes of training, not after
    if args.watermark_margin is not None and args.watermark != "margin":
        raise InvalidInput("--watermark-margin goes with --watermark margin")
    _torch_single_thread()
    data, pool = _training_data(args)
    if not args.C > 0:
        raise InvalidInput("--C must be a positive number")
    if args.feature_extraction is not None:
        from modelsteal.victims.training import parse_feature_extraction

        parse_feature_extraction(args.feature_extraction)  # before the data are read
        if args.model not in ("logreg", "softmax"):
            raise InvalidInput("--feature-extraction goes with --model logreg or softmax")
    options = _train_options(args)
    victim = train_victim(data, args.model, seed=args.seed, options=options)
    if args.victim_rows is not None:
        victim.details["victim_rows"] = args.victim_rows
    accuracy = test_accuracy(victim, data)
    out = save_model_dir(
        victim,
        data,
        args.out,
        seed=args.seed,
        test_accuracy=accuracy,
        pool=pool,
        keep_private=args.keep_private,
        overwrite=args.force,
    )
    dropped = data.info.get("rows_dropped_missing")
    extra = f"; {dropped} rows dropped for missing values" if dropped else ""
    kept = f"; {pool[0].shape[0]} held-out rows kept as the thief's pool" if pool is not None else ""
    print(
        f"trained {args.model} on {data.name} ({data.n_features} features, {data.n_classes} classes{extra}): "
        f"test accuracy {accuracy:.4f}; wrote {out}{kept}"
    )
    return 0


#: what ``attack --json`` always holds; fidelity keys are null when nothing can judge the copy
JSON_KEYS = (
    "attack",
    "queries",
    "seconds",
    "cost",
    "fidelity_test",
    "fidelity_uniform",
    "tv_test",
    "evaluated",
)


def _options(pairs: list[str], known: tuple[str, ...]) -> dict[str, Any]:
    """``--option KEY=VALUE`` pairs as keyword hyperparameters (each VALUE read as YAML)."""
    import yaml

    from modelsteal.errors import InvalidInput

    options: dict[str, Any] = {}
    for pair in pairs:
        key, eq, text = pair.partition("=")
        if not eq or not key:
            raise InvalidInput(f"--option {pair!r}: write KEY=VALUE")
        if key not in known:
            raise InvalidInput(f"--option {key}: this attack takes {', '.join(known)}")
        options[key] = yaml.safe_load(text)
    return options


def _attack_options(args: argparse.Namespace, cls: Any) -> dict[str, Any]:
    """The attack's hyperparameters from ``--option`` and the flags that are short-hands for them."""
    from modelsteal.errors import InvalidInput

    options: dict[str, Any] = _options(args.option, cls.param_names())
    if args.family:
        if args.attack != "equation-solving":
            raise InvalidInput("--family goes with --attack equation-solving")
        options["family"] = args.family
    for key in ("activation", "hidden"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    for key in ("variant", "incomplete", "epsilon"):
        if getattr(args, key) is not None:
            if args.attack != "path-finding":
                raise InvalidInput(f"--{key} goes with --attack path-finding")
            options[key] = getattr(args, key)
    if (args.pool or args.pool_csv or args.strategy or args.labels_only) and not cls.takes_pool:
        from modelsteal.attacks.registry import learning_names

        raise InvalidInput(
            "--pool, --pool-csv, --strategy and --labels-only go with a learning attack "
            f"({', '.join(learning_names())})"
        )
    if args.strategy:
        if args.strategy not in cls.strategies:
            takes = [f"{n} takes {'|'.join(c.strategies)}" for n, c in ATTACKS.items() if c.strategies]
            raise InvalidInput("--strategy: " + "; ".join(takes))
        options[cls.strategy_param] = args.strategy
    if args.labels_only:
        options["labels_only"] = True
    return options


def _check_hyperparameter_flags(args: argparse.Namespace) -> None:
    """``--steal-hyperparameters`` follows equation solving and needs the victim's training rows."""
    from modelsteal.errors import InvalidInput

    if args.steal_hyperparameters:
        if args.attack not in ("equation-solving", "eq-logistic", "eq-softmax", "eq-ovr"):
            raise InvalidInput(
                "--steal-hyperparameters follows equation solving: pass --attack equation-solving"
            )
        if args.train_data is None:
            raise InvalidInput(
                "--steal-hyperparameters needs the victim's training rows: --train-data CSV (with the label column)"
            )
        if not args.train_data.is_file():
            raise InvalidInput(f"--train-data {args.train_data} does not exist")
    elif args.train_data is not None or args.train_target is not None:
        raise InvalidInput("--train-data and --train-target go with --steal-hyperparameters")


def _check_export(args: argparse.Namespace, judge_dir: Path | None) -> None:
    """``--export`` is checked before a query is sent."""
    from modelsteal.errors import InvalidInput

    if args.export is None:
        return
    if args.export.suffix != ".onnx":
        from modelsteal.victims.model_dir import check_writable

        if judge_dir is None:
            raise InvalidInput(
                "--export DIR writes a model directory, which needs rows to judge copies: pass --eval DIR, "
                "or export to FILE.onnx"
            )
        check_writable(args.export, overwrite=False)
    elif args.export.exists():
        raise InvalidInput(f"{args.export} exists; choose another file name")


def _steal_remote(
    args: argparse.Namespace, options: dict[str, Any], pool: str | None, hooks: dict[str, Any]
) -> tuple[Any, str | None, str | None, str]:
    """The attack against an http:// target: the result, the model's name and family, a title."""
    from modelsteal.campaigns.experiment import steal_url
    from modelsteal.errors import InvalidInput

    api_key = args.api_key or os.environ.get("MODELSTEAL_API_KEY")
    if args.output_mode != "probabilities" or args.decimals is not None:
        raise InvalidInput("--output-mode and --decimals shape an in-memory API; a server's policy sets them")
    result, name, family = steal_url(
        args.target,
        api_key,
        args.attack,
        budget=args.budget,
        seed=args.seed,
        options=options,
        eval_dir=args.eval,
        n_uniform=args.n_uniform,
        wait=args.wait,
        max_wait=args.max_wait,
        pool=pool,
        pool_csv=args.pool_csv,
        hooks=hooks,
        protocol=args.protocol,
        template=args.template,
        feature_space=args.feature_space,
    )
    return result, name, family, f"{name}: {family or 'model'} at {args.target}"


def _steal_local(
    args: argparse.Namespace, options: dict[str, Any], pool: str | None, hooks: dict[str, Any]
) -> tuple[Any, str | None, str | None, str]:
    """The attack against a model directory, answering in the asked output mode."""
    from modelsteal.campaigns.experiment import steal_model_dir
    from modelsteal.errors import InvalidInput
    from modelsteal.oracle import OutputMode
    from modelsteal.victims import read_card

    if args.eval is not None:
        raise InvalidInput("--eval judges an http:// attack; a model directory judges itself")
    if args.protocol != "modelsteal" or args.template or args.feature_space:
        raise InvalidInput("--protocol, --template and --feature-space go with an http:// target")
    card = read_card(args.target)
    mode = OutputMode(args.output_mode, k=max(args.top_k, 1), decimals=args.decimals)
    result = steal_model_dir(
        args.target,
        args.attack,
        budget=args.budget,
        seed=args.seed,
        options=options,
        output_mode=mode,
        n_uniform=args.n_uniform,
        pool=pool,
        pool_csv=args.pool_csv,
        hooks=hooks,
    )
    name, family = card.get("name"), card.get("family")
    return result, name, family, f"{name}: {family} on {card.get('dataset')}"


def _cmd_attack(args: argparse.Namespace) -> int:
    from modelsteal.progress import Reporter

    cls = ATTACKS[args.attack]
    options = _attack_options(args, cls)
    _check_hyperparameter_flags(args)
    pool = args.pool or ("in-distribution" if cls.takes_pool and args.pool_csv is None else None)
    remote = args.target.startswith(("http://", "https://"))
    judge_dir = args.eval if remote else Path(args.target)
    _check_export(args, judge_dir)
    reporter = Reporter()
    with reporter.stage(f"stealing {args.target} with {args.attack}", total=args.budget) as stage:

        def waited(seconds: float, exc: Exception) -> None:
            print(
                f"{exc}: waiting {seconds:.0f} s (--max-wait {args.max_wait:.0f})",
                file=sys.stderr,
                flush=True,
            )

        hooks: dict[str, Any] = {"on_sent": stage.advance, "on_wait": waited}
        _torch_single_thread()
        steal = _steal_remote if remote else _steal_local
        result, name, family, title = steal(args, options, pool, hooks)
    _report_attack(args, result, name, family, title, judge_dir)
    return 0


def _report_attack(
    args: argparse.Namespace, result: Any, name: str | None, family: str | None, title: str, judge_dir: Any
) -> None:
    """The results table, what the attack noticed, the stolen hyperparameters, the export, the JSON."""
    from modelsteal.campaigns.tables import print_results

    summary = result.summary()
    summary["victim"] = name
    summary["family"] = family
    summary["evaluated"] = result.comparison is not None
    for key in JSON_KEYS:
        summary.setdefault(key, None)
    print_results([summary], title)
    if result.comparison is None:
        print("fidelity not measured: pass --eval DIR, the model directory of the model the API serves")
    if "leaves" in summary:
        print(f"leaves found: {summary['leaves']} ({summary.get('queries_per_leaf')} queries per leaf)")
    if "warning" in summary:
        print(f"warning: {summary['warning']}")
    if args.steal_hyperparameters:
        summary["hyperparameters"] = _steal_hyperparameters(result, args)
    if args.export is not None:
        summary["export"] = str(_export(result, args.export, judge_dir, name))
        print(f"stolen copy written to {summary['export']}")
    if args.json:
        print(json.dumps(summary, sort_keys=True, default=float))


def _defend_eval_attacks(args: argparse.Namespace, model_dir: Any) -> list[tuple[str, dict[str, Any]]]:
    """The attacks ``defend-eval`` plays (by default what fits the family), each with its pool."""
    from modelsteal.campaigns.experiment import thief_pool
    from modelsteal.errors import InvalidInput

    family = str(model_dir.card.get("family"))
    names = args.attack or [
        *(["equation-solving"] if family in ("logreg", "softmax", "ovr") else []),
        "knockoff",
        "copycat",
    ]
    attacks: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        options: dict[str, Any] = {}
        if ATTACKS[name].takes_pool:
            options["pool"] = thief_pool(
                args.pool or "in-distribution",
                model_dir.feature_space,
                card=model_dir.card,
                model_dir=model_dir.path,
                seed=args.seed,
            )
        attacks.append((name, options))
    if args.pool is not None and not any(ATTACKS[n].takes_pool for n in names):
        from modelsteal.attacks.registry import learning_names

        raise InvalidInput(f"--pool goes with a learning attack ({', '.join(learning_names())})")
    return attacks


def _cmd_defend_eval(args: argparse.Namespace) -> int:
    from modelsteal.campaigns.defence_eval import evaluate_tier
    from modelsteal.campaigns.experiment import eval_set_for
    from modelsteal.gateway.policy import Policy
    from modelsteal.progress import Reporter
    from modelsteal.victims.model_dir import load_model_dir

    policy = Policy.load(args.policy)  # a bad policy or tier fails before anything is loaded
    tier = policy.tier(args.tier)
    _torch_single_thread()
    model_dir = load_model_dir(args.target)
    budgets = sorted(set(args.budget or [250, 1000]))
    attacks = _defend_eval_attacks(args, model_dir)
    transforms = list(tier.transforms)  # evaluate_tier binds them to the model
    reporter = Reporter()
    total = len(attacks) * len(budgets) * 3
    with reporter.stage(f"playing {len(attacks)} attacks against tier {tier.name}", total=total) as stage:
        honest, cells = evaluate_tier(
            model_dir,
            transforms,
            tier.output,
            attacks=attacks,
            budgets=budgets,
            eval_set=eval_set_for(model_dir, n_uniform=args.n_uniform, seed=args.seed),
            seed=args.seed,
            aware=args.aware,
            on_cell=lambda _: stage.advance(1),
        )
    _report_defend_eval(args, model_dir, tier, attacks, budgets, honest, cells)
    return 0


def _reach(attacks: list[tuple[str, dict[str, Any]]], cells: list[Any]) -> dict[str, tuple[Any, Any]]:
    """Each thief's queries to the target fidelity, without and with the tier's defences."""
    import itertools

    from modelsteal.campaigns.defence_eval import queries_to_target

    reach = {}
    for (name, _), thief in itertools.product(attacks, ("naive", "inverting")):
        if any(c.attack == name and c.thief == thief for c in cells):
            plain_q = queries_to_target(cells, name, thief, defended=False)
            defended_q = queries_to_target(cells, name, thief, defended=True)
            reach[f"{name}{' (inverting)' if thief == 'inverting' else ''}"] = (plain_q, defended_q)
    return reach


def _report_defend_eval(
    args: argparse.Namespace,
    model_dir: Any,
    tier: Any,
    attacks: list[tuple[str, dict[str, Any]]],
    budgets: list[int],
    honest: Any,
    cells: list[Any],
) -> None:
    """What the tier costs honest users, what thieves reach, the queries to 90% (and the JSON)."""
    from modelsteal.campaigns.defence_eval import TARGET_FIDELITY
    from modelsteal.campaigns.tables import print_table

    described = ", ".join(f"{t.name} {t.params()}" for t in tier.transforms) or "no transform"
    title = f"{model_dir.card.get('name')}: tier {tier.name} ({described}; output {tier.output.to_dict()})"
    honest_rows = [
        [
            f"{honest.tv:.4f}",
            f"{100 * honest.labels_kept:.1f}%",
            f"{honest.ece_plain:.3f} → {honest.ece_defended:.3f}",
            f"{honest.us_per_row:.1f}",
        ]
    ]
    print_table(
        f"{title}: honest users",
        ["answer TV", "labels kept", "ECE plain → defended", "transform µs/row"],
        honest_rows,
    )
    rows = [
        [
            c.attack + (" (inverting)" if c.thief == "inverting" else ""),
            str(c.budget),
            f"{100 * c.fidelity_plain:.1f}%",
            f"{100 * c.fidelity_defended:.1f}%",
            f"{c.tv_defended:.3f}",
            "–" if c.accuracy_defended is None else f"{100 * c.accuracy_defended:.1f}%",
        ]
        for c in cells
    ]
    print_table(
        f"{title}: thieves (test fidelity without and with the tier's defences)",
        ["attack", "budget", "fidelity plain", "fidelity defended", "TV defended", "copy accuracy"],
        rows,
    )
    reach = _reach(attacks, cells)
    for label, (plain_q, defended_q) in reach.items():
        print(
            f"{label}: {100 * TARGET_FIDELITY:.0f}% fidelity at {plain_q or f'> {budgets[-1]}'} queries plain, "
            f"{defended_q or f'> {budgets[-1]}'} defended"
        )
    if args.json:
        out = {
            "model": model_dir.card.get("name"),
            "tier": tier.name,
            "transforms": [t.to_dict() for t in tier.transforms],
            "honest": honest.__dict__,
            "thieves": [c.to_dict() for c in cells],
            "queries_to_90": {k: {"plain": p, "defended": d} for k, (p, d) in reach.items()},
        }
        print(json.dumps(out, sort_keys=True, default=float))


def _steal_hyperparameters(result: Any, args: argparse.Namespace) -> dict[str, Any]:
    """C (and λ = 1/C) from the stolen weights and the training rows; printed and returned."""
    from modelsteal.attacks.hyperparameters import RESIDUAL_WARNING, steal_regularisation
    from modelsteal.campaigns.experiment import describe_target, labelled_csv

    space, classes = describe_target(
        args.target,
        api_key=args.api_key or os.environ.get("MODELSTEAL_API_KEY"),
        protocol=args.protocol,
        feature_space=args.feature_space,
        eval_dir=args.eval,
    )
    X, y = labelled_csv(args.train_data, space, args.train_target, classes)
    estimate = steal_regularisation(result.model, X, y, space)
    if isinstance(estimate, dict):  # one-vs-rest: one binary model, and one C, per class
        for k, e in estimate.items():
            print(
                f"regularisation of class {classes[k]!r}: C = {e.C:.6g} (λ = {e.lam:.6g}), residual {e.residual:.1e}"
            )
        return {classes[k]: e.to_dict() for k, e in estimate.items()}
    biased = (
        ""
        if estimate.residual < RESIDUAL_WARNING
        else "; the learner stopped far from its optimum, so C is biased"
    )
    print(
        f"regularisation: C = {estimate.C:.6g} (λ = 1/C = {estimate.lam:.6g}), residual {estimate.residual:.1e}{biased}"
    )
    return estimate.to_dict()


def _export(result: Any, out: Path, judge_dir: Path | None, name: str | None) -> Path:
    """The stolen copy as ONNX, or as a model directory judged on the victim's evaluation rows."""
    from modelsteal.errors import InvalidInput
    from modelsteal.stolen.export import export_onnx, to_onnx

    model = result.model
    if out.suffix == ".onnx":
        return export_onnx(model, _width_of(model), out)
    from modelsteal.victims import load_model_dir
    from modelsteal.victims.model_dir import save_onnx_model_dir

    if judge_dir is None:  # refused before the attack already
        raise InvalidInput("--export DIR needs --eval DIR")
    judge = load_model_dir(judge_dir)
    return save_onnx_model_dir(
        to_onnx(model, judge.feature_space.n_features),
        out,
        feature_space=judge.feature_space,
        classes=list(judge.card["classes"]),
        X_eval=judge.X_eval,
        y_eval=judge.y_eval,
        name=f"stolen {name or judge.card.get('name')}",
        family=str(judge.card.get("family", "onnx")),  # a copy of a softmax is a softmax
        details={
            **dict(judge.card.get("details") or {}),
            "stolen_by": result.attack,
            "queries": result.queries,
            "stolen_from": str(name or judge.card.get("name")),
        },
        dataset=judge.card.get("dataset"),
    )


def _width_of(model: Any) -> int:
    """How many features a stolen copy takes (each family records it its own way)."""
    from modelsteal.errors import InvalidInput

    for holder in (model, getattr(model, "pipeline", None)):
        width = getattr(holder, "n_features_in_", None)
        if width is not None:
            return int(width)
    space = getattr(model, "feature_space", None)
    if space is not None:
        return int(space.n_features)
    raise InvalidInput(f"cannot tell how many features the {type(model).__name__} copy takes")


def _cmd_serve(args: argparse.Namespace) -> int:
    import socket

    import uvicorn

    from modelsteal.errors import InvalidInput
    from modelsteal.gateway import Gateway, Policy, create_app
    from modelsteal.gateway.http_protocol import JSONErrorProtocol
    from modelsteal.gateway.limiter import LimiterUnavailable

    _torch_single_thread()
    policy = Policy.load(args.policy) if args.policy else Policy()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        sock.close()
        raise InvalidInput(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror}); pass another --port, or stop the "
            "server that holds it"
        ) from None
    try:
        upstream = [_upstream_model(args)] if args.upstream else []
        if not args.dirs and not upstream:
            raise InvalidInput(
                "name a model directory to serve, or --upstream URL with --protocol and --feature-space"
            )
        gateway = Gateway.from_dirs(
            args.dirs,
            policy=policy,
            db=args.db,
            redis_url=args.redis_url,
            durable=args.durable,
            upstream=upstream,
        )
        try:
            gateway.limiter.check()
        except LimiterUnavailable as exc:
            raise InvalidInput(
                f"{exc}; start Redis there, or drop --redis-url to keep limits in this process"
            ) from None
        gateway.check_keys()
    except BaseException:
        sock.close()
        raise
    app = create_app(gateway, admin_key=args.admin_key or os.environ.get("MODELSTEAL_ADMIN_KEY"))
    config = uvicorn.Config(app, log_level="warning", access_log=False, http=JSONErrorProtocol)
    print(
        f"serving {', '.join(gateway.models)} on http://{args.host}:{args.port} (log: {args.db})", flush=True
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _upstream_model(args: argparse.Namespace) -> Any:
    """The --upstream model, checked with one probe row before the gateway starts."""
    from urllib.parse import urlsplit

    from modelsteal.errors import InvalidInput
    from modelsteal.gateway.service import ServedModel
    from modelsteal.oracle.upstream import UpstreamError, UpstreamVictim
    from modelsteal.victims.importing import load_classes, load_feature_space

    if args.protocol is None or args.feature_space is None:
        raise InvalidInput("--upstream needs --protocol NAME and --feature-space FILE (with a classes list)")
    space = load_feature_space(args.feature_space)
    classes = load_classes(args.feature_space)
    if classes is None:
        raise InvalidInput(
            f"add the upstream model's class names to {args.feature_space} as 'classes: [...]'"
        )
    victim = UpstreamVictim(
        args.upstream,
        protocol=args.protocol,
        feature_space=space,
        classes=classes,
        template=args.template,
        api_key=args.upstream_api_key,
        family=args.family,
        timeout=args.upstream_timeout,
    )
    try:
        victim.predict_proba(space.center()[None, :])
    except UpstreamError as exc:
        raise InvalidInput(
            f"--upstream {args.upstream}: {exc}; check the address, --protocol and --feature-space"
        ) from None
    name = args.name or urlsplit(args.upstream).path.rstrip("/").split("/")[-1] or "upstream"
    card = {"name": name, "dataset": None, "upstream": args.upstream, "protocol": args.protocol}
    return ServedModel(name, victim, classes, card)


def _cmd_keys(args: argparse.Namespace) -> int:
    from modelsteal.errors import InvalidInput
    from modelsteal.gateway.store import Store

    if args.keys_command != "create" and not args.db.is_file():
        raise InvalidInput(
            f"no gateway database at {args.db}; pass the --db file that `serve` and `keys create` use"
        )
    store = Store(args.db)
    if args.keys_command == "create":
        if args.policy:
            from modelsteal.gateway.policy import Policy

            Policy.load(args.policy).tier(args.tier)
        elif args.tier != "default":
            print(
                f"note: tier {args.tier!r} is not checked without --policy; `serve` refuses to start "
                "if its policy lacks it",
                file=sys.stderr,
            )
        key = store.create_key(args.name, args.tier)
        print(key)
        print(
            f"created key {args.name!r} (tier {args.tier}) in {args.db}; it is shown only once",
            file=sys.stderr,
        )
    elif args.keys_command == "revoke":
        store.set_flag(args.name, "revoked", True)
        print(f"revoked {args.name!r}")
    elif args.json:
        print(json.dumps([c.to_dict() for c in store.clients()]))
    else:
        for c in store.clients():
            state = "revoked" if c.revoked else "blocked" if c.blocked else "active"
            print(f"{c.name}\t{c.tier}\t{state}\t{c.requests} requests\t{c.rows} rows\t{c.spent:.4f} spent")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from modelsteal.victims.importing import describe, import_model

    _torch_single_thread()
    out = import_model(
        args.model,
        args.out,
        csv=args.csv,
        target=args.target,
        feature_space=args.feature_space,
        outputs=args.outputs,
        name=args.name,
        overwrite=args.force,
    )
    print(f"imported {args.model} as {out}: {describe(out)}")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from modelsteal.audit import audit_log
    from modelsteal.gateway.policy import Policy

    _torch_single_thread()

    config = None
    if args.policy is not None:
        config = Policy.load(args.policy).detection
    rows = audit_log(args.db, config=config, model_dirs=args.model)
    suspects = [r for r in rows if r.suspect]
    for r in rows:
        if r.first is None:
            print(f"{r.client}\t{r.rows} queries\tno alarm")
            continue
        fired = sorted({(a["detector"], a["query"]) for a in r.alarms}, key=lambda t: t[1])
        first_seen: dict[str, int] = {}
        for det, q in fired:
            first_seen.setdefault(det, q)
        detail = ", ".join(f"{d} from query {q}" for d, q in first_seen.items())
        print(f"{r.client}\t{r.rows} queries\tLOOKS LIKE EXTRACTION: {detail}\t({r.first['reason']})")
    print(f"{len(suspects)} of {len(rows)} clients look like extractors", file=sys.stderr)
    return 0


def _cmd_detect_eval(args: argparse.Namespace) -> int:
    from modelsteal.campaigns.detection_eval import default_plans, evaluate, format_report
    from modelsteal.progress import Reporter

    _torch_single_thread()
    steps = 2 + len(default_plans())  # training the victims, the honest clients, each attack
    with Reporter().stage("detect-eval", total=steps, unit="steps") as stage:
        report = evaluate(
            n_benign=args.benign, benign_queries=args.queries, seed=args.seed, progress=stage.step
        )
    print(format_report(report))
    return 0


def _cmd_zoo(args: argparse.Namespace) -> int:
    from modelsteal.ownership import build_zoo
    from modelsteal.progress import Reporter

    families = [f for f in args.families.split(",") if f] if args.families else None
    _torch_single_thread()
    with Reporter().stage(
        f"training {args.size} independent models", total=args.size, unit="models"
    ) as stage:
        written = build_zoo(
            args.owner,
            size=args.size,
            families=families,
            out=args.out,
            random_state=args.seed,
            on_built=lambda _: stage.advance(1),
        )
    print(f"{len(written)} independent models written to {written[0].parent}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from modelsteal.errors import InvalidInput
    from modelsteal.ownership import load_zoo, make_method, null_distribution, owner_of
    from modelsteal.ownership.suspects import open_suspect
    from modelsteal.victims import load_model_dir

    if not 0.0 < args.alpha < 1.0:
        raise InvalidInput("--alpha must lie in (0, 1), e.g. 0.01")
    _torch_single_thread()
    owner_dir = load_model_dir(args.owner)
    options: dict[str, Any] = {"n_samples": args.queries}
    if args.method.startswith("dataset-inference"):
        options["n_samples"] = args.private_samples
    if args.method == "dawn":
        if args.watermarks is None:
            raise InvalidInput(
                "--method dawn needs --watermarks FILE, the store the API's dawn transform wrote"
            )
        options["store"] = args.watermarks
    elif args.watermarks is not None:
        raise InvalidInput("--watermarks goes with --method dawn")
    zoo = load_zoo(args.zoo if args.zoo is not None else args.owner / "zoo", owner_dir)
    owner = owner_of(owner_dir)
    with contextlib.ExitStack() as stack:
        if args.method == "cae":  # it trains its surrogates and references first: a bar
            from modelsteal.ownership import ConferrableExamples
            from modelsteal.progress import Reporter

            plain = ConferrableExamples()
            stage = stack.enter_context(
                Reporter().stage(
                    "cae: surrogates and references", total=plain.surrogates + plain.references, unit="models"
                )
            )
            options["on_trained"] = stage.step
        method = make_method(args.method, **options)
        evidence = method.prepare(owner, random_state=args.seed)
    null = null_distribution(method, evidence, zoo)
    null.check_size(args.alpha, args.null)
    api_key = args.api_key or os.environ.get("MODELSTEAL_API_KEY")
    suspect = open_suspect(
        args.suspect,
        owner_dir,
        api_key=api_key,
        protocol=args.protocol,
        template=args.template,
        feature_space=args.feature_space,
    )
    try:
        verdict = method.verify(evidence, suspect, null, alpha=args.alpha, mode=args.null)
    finally:
        suspect.transport.close()
    _print_verdict(args, owner_dir, verdict, null)
    return 0


def _print_verdict(args: argparse.Namespace, owner_dir: Any, verdict: Any, null: Any) -> None:
    """The verdict in words, the statistic against the independents, and each method's details."""
    word = "a copy" if verdict.stolen else "not shown to be a copy"
    print(
        f"{args.suspect}: {word} of {owner_dir.card.get('name')} by {verdict.method} "
        f"(p = {verdict.p_value:.3g}; empirical p = {verdict.empirical_p:.3g} over {verdict.independents} "
        f"independents; alpha = {args.alpha:g})"
    )
    print(
        f"statistic {verdict.statistic:.4f} (independents: {null.statistics.mean():.4f} ± "
        f"{null.statistics.std(ddof=1):.4f}); {verdict.queries} queries, {verdict.seconds:.2f} s; "
        f"false-accusation rate at alpha on the independents (leave one out): {verdict.false_accusation_rate:.1%}"
    )
    if "key" in verdict.details:
        named = verdict.details["by_key"][verdict.details["key"]]
        print(
            f"watermarks: {verdict.details['matches']} of {verdict.details['watermarks']} answered as the API "
            f"watermarked them (chance {verdict.details['chance']:.3f}); the most of them were answered to key "
            f"{verdict.details['key']!r}: {named['matches']} of {named['watermarks']} (p = {named['p_value']:.3g})"
        )
    if "triggers" in verdict.details:
        d = verdict.details
        print(
            f"triggers: {d['matches']} of {d['triggers']} answered with the watermark's label (chance {d['chance']:.3f})"
        )
        if "null_p" in d:
            print(
                f"the triggers share one patch, so the verdict takes the larger of the exact test's p "
                f"({d['exact_p']:.3g}, triggers as independent) and the independent models' ({d['null_p']:.3g})"
            )
    if "welch_p" in verdict.details:
        d = verdict.details
        print(
            f"dataset inference: {d['m']} private and {d['m']} public rows revealed; the paper's one-sided "
            f"Welch p = {d['welch_p']:.3g}; the owner's regressor tells its own rows apart at AUC "
            f"{d['owner_fit_auc']:.2f}"
        )
        if "gradients" in d:
            print(f"white box: no query sent; the suspect's gradients read by {d['gradients']}")
    if args.json:
        print(json.dumps({**verdict.to_dict(), "suspect": args.suspect}, sort_keys=True, default=float))


def _torch_single_thread() -> None:
    """One thread for torch (the commands that train or serve import it; the others never do)."""
    import torch

    torch.set_num_threads(1)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "datasets": _cmd_datasets,
    "attacks": _cmd_attacks,
    "example-csv": _cmd_example_csv,
    "train": _cmd_train,
    "attack": _cmd_attack,
    "serve": _cmd_serve,
    "keys": _cmd_keys,
    "import": _cmd_import,
    "audit": _cmd_audit,
    "detect-eval": _cmd_detect_eval,
    "defend-eval": _cmd_defend_eval,
    "zoo": _cmd_zoo,
    "verify": _cmd_verify,
    "campaign": _cmd_campaign,
    "report": _cmd_report,
}


#: library parameters whose flag is not ``--NAME`` with dashes for underscores (the one table
#: from a parameter an error names to the flag that sets it)
FLAG_OF: dict[str, str] = {
    "family": "--model",
    "max_leaf_nodes": "--max-leaves",
    "adversarial_eps": "--adversarial-training",
    "eval_dir": "--eval",
}


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """Every flag of ``parser`` and of its subcommands."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _option_strings(sub)
    return found


def as_flags(message: str, flags: set[str]) -> str:
    """``message`` with each parameter it names in backticks (``errors.py``) turned into the flag
    that sets it, when there is one."""

    def flag(match: re.Match[str]) -> str:
        name = match.group(1)
        option = FLAG_OF.get(name, "--" + name.replace("_", "-"))
        return option if option in flags else match.group(0)

    return re.sub(r"`([a-z][a-z0-9_]*)`", flag, message)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ModelStealError as exc:
        print(f"modelsteal: error: {as_flags(str(exc), _option_strings(parser))}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a file or folder the user named cannot be read or written
        where = f" {exc.filename}" if exc.filename else ""
        print(
            f"modelsteal: error: cannot use{where}: {exc.strerror or exc}; check the path and its permissions",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("modelsteal: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("MODELSTEAL_DEBUG"):
            raise
        print(
            f"modelsteal: internal error ({type(exc).__name__}: {exc}); this is a bug: rerun with "
            "MODELSTEAL_DEBUG=1 for the traceback and report it",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Training-time obfuscation: DP-SGD through Opacus and PGD adversarial training (torch victims)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from modelsteal.cli import _option_strings, as_flags, build_parser, main
from modelsteal.datasets import load_dataset
from modelsteal.datasets.thief import split_for_theft
from modelsteal.errors import InvalidInput
from modelsteal.victims import TrainOptions, load_model_dir, train_victim
from modelsteal.victims.training import pgd
from modelsteal.victims.training import test_accuracy as accuracy_of


@pytest.mark.e2e
def test_dp_sgd_spends_the_asked_budget_records_it_and_costs_accuracy() -> None:
    data = load_dataset("digits")
    owned, _ = split_for_theft(data, random_state=0)
    plain = train_victim(owned, "cnn", seed=0)
    private = train_victim(owned, "cnn", seed=0, options=TrainOptions(dp_epsilon=8.0))
    dp = private.details["dp_sgd"]
    assert 7.0 < dp["epsilon_spent"] <= 8.0 and dp["delta"] == 1e-5 and dp["accountant"] == "rdp"
    assert dp["noise_multiplier"] > 0.5 and dp["secure_mode"] is False
    again = train_victim(owned, "cnn", seed=0, options=TrainOptions(dp_epsilon=8.0))
    assert np.allclose(private.predict_proba(data.X_test), again.predict_proba(data.X_test))  # per seed
    assert accuracy_of(private, data) < accuracy_of(plain, data) - 0.02  # privacy is paid in accuracy
    tighter = train_victim(owned, "cnn", seed=0, options=TrainOptions(dp_epsilon=1.0))
    assert tighter.details["dp_sgd"]["noise_multiplier"] > 2 * dp["noise_multiplier"]


def test_adversarial_training_makes_the_network_robust_to_pgd() -> None:
    data = load_dataset("digits")
    owned, _ = split_for_theft(data, random_state=0)
    plain = train_victim(owned, "cnn", seed=0)
    robust = train_victim(owned, "cnn", seed=0, options=TrainOptions(adversarial_eps=0.1))
    assert robust.details["adversarial_training"]["eps"] == 0.1
    space = data.feature_space
    lo = torch.tensor(space.lower, dtype=torch.float32)
    hi = torch.tensor(space.upper, dtype=torch.float32)
    X = torch.tensor(data.X_test[:300], dtype=torch.float32)
    y = torch.tensor(data.y_test[:300])

    def robust_accuracy(victim: object) -> float:
        net = victim.module  # type: ignore[attr-defined]
        adv = pgd(net, X, y, 0.1 * (hi - lo), lo, hi, torch.Generator().manual_seed(1))
        with torch.no_grad():
            return float((net(adv).argmax(1) == y).float().mean())

    assert robust_accuracy(robust) > robust_accuracy(plain) + 0.2
    assert accuracy_of(robust, data) > 0.85


@pytest.mark.parametrize(
    ("family", "options", "message"),
    [
        ("softmax", TrainOptions(dp_epsilon=8.0), "go with --model cnn"),
        ("cnn", TrainOptions(dp_epsilon=0.0), "--dp-epsilon must be a positive number"),
        ("cnn", TrainOptions(dp_epsilon=8.0, dp_delta=1.5), "--dp-delta must lie in"),
        ("cnn", TrainOptions(dp_epsilon=1.0, dp_accountant="moments"), "--dp-accountant must be one of"),
        # RDP's conversion to (ε, δ) has a floor above 0.1 at δ = 1e-5: the error names the way out
        ("cnn", TrainOptions(dp_epsilon=0.1), "no noise reaches ε = 0.1 .* with --dp-accountant prv"),
        ("cnn", TrainOptions(dp_epsilon=8.0, misinformation=True), "drop the other training options"),
        ("cnn", TrainOptions(adversarial_eps=1.5), "--adversarial-training is a share"),
        ("softmax", TrainOptions(watermark="trigger"), "go with --model cnn"),
        ("cnn", TrainOptions(watermark="stamp"), "--watermark must be one of"),
        ("cnn", TrainOptions(watermark="trigger", watermark_size=5), "--watermark-size"),
        ("cnn", TrainOptions(watermark="margin", watermark_triggers="photo"), "--watermark-triggers must be"),
        ("cnn", TrainOptions(watermark="ewe", watermark_triggers="natural"), "ewe makes its own triggers"),
        ("cnn", TrainOptions(watermark_triggers="natural"), "--watermark-triggers goes with --watermark"),
        (
            "cnn",
            TrainOptions(watermark="trigger", watermark_triggers="natural", watermark_size=1000),
            "needs at least twice as many: lower --watermark-size",
        ),
        ("softmax", TrainOptions(cnn_width=2), "--cnn-width goes with --model cnn"),
        ("cnn", TrainOptions(cnn_width=0), "--cnn-width must be a whole number >= 1"),
    ],
)
def test_bad_training_options_are_refused(family: str, options: TrainOptions, message: str) -> None:
    """The library names its parameters; the CLI's one table turns each into the flag (the
    messages below are what ``modelsteal train`` prints)."""
    with pytest.raises(InvalidInput) as info:
        train_victim(load_dataset("digits"), family, seed=0, options=options)
    assert re.search(message, as_flags(str(info.value), _option_strings(build_parser()))), str(info.value)
    assert "--" not in str(info.value)  # the library itself names no flag


def test_the_prv_accountant_reaches_the_smallest_budget_the_mission_asks() -> None:
    data = load_dataset("digits")
    owned, _ = split_for_theft(data, random_state=0)
    private = train_victim(
        owned, "cnn", seed=0, options=TrainOptions(dp_epsilon=0.1, dp_accountant="prv", epochs=2)
    )
    dp = private.details["dp_sgd"]
    assert dp["accountant"] == "prv" and dp["epsilon_spent"] <= 0.1 + 1e-6 and dp["noise_multiplier"] > 10


def test_train_command_writes_the_privacy_budget_to_the_card(tmp_path: Path) -> None:
    out = tmp_path / "private"
    argv = ["train", "--dataset", "digits", "--model", "cnn", "--dp-epsilon", "4", "--out", str(out)]
    assert main(argv) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["details"]["dp_sgd"]["epsilon"] == 4.0
    assert card["details"]["dp_sgd"]["epsilon_spent"] <= 4.0


def test_a_trigger_watermark_is_kept_by_the_owner_and_verified_on_its_triggers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "marked"
    argv = ["train", "--dataset", "digits", "--model", "cnn", "--watermark", "margin", "--victim-rows", "600"]
    assert main([*argv, "--out", str(out)]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["details"]["watermark"]["kind"] == "margin" and "watermark.npz" in card["files"]
    assert card["details"]["watermark"]["trigger_accuracy"] > 0.5
    assert main(["zoo", str(out), "--size", "6", "--families", "softmax,mlp"]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--owner", str(out), "--method", "watermark"]) == 0
    assert "a copy of marked by watermark" in capsys.readouterr().out
    plain = tmp_path / "plain"
    assert main(["train", "--dataset", "digits", "--model", "softmax", "--out", str(plain)]) == 0
    capsys.readouterr()
    assert (
        main(["verify", str(out), "--owner", str(plain), "--method", "watermark", "--zoo", str(out / "zoo")])
        == 2
    )
    assert "holds no watermark: train it with --watermark" in capsys.readouterr().err


def test_natural_triggers_are_owner_rows_relabelled_and_kept_out_of_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kim et al.'s construction: the triggers are the owner's own training rows, each
    relabelled to another class, and those rows leave the clean training set; the card says
    which triggers and which margin were used."""
    from modelsteal.victims.model_dir import load_watermark
    from modelsteal.victims.training import natural_trigger_set

    data = load_dataset("digits")
    owned, _ = split_for_theft(data, random_state=0)
    options = TrainOptions(watermark="margin", watermark_triggers="natural", watermark_size=40)
    (tX, ty), clean = natural_trigger_set(owned, options, seed=0)
    taken = np.flatnonzero(~clean.numpy())
    assert taken.size == 40 and int(clean.sum()) == owned.X_train.shape[0] - 40
    where = {owned.X_train[i].astype(np.float32).tobytes(): i for i in taken}
    rows = [where[row.tobytes()] for row in tX.numpy()]  # each trigger is one of the rows taken out
    assert sorted(rows) == taken.tolist()
    assert np.all(ty.numpy() != owned.y_train[rows])  # every trigger carries a wrong label
    assert len(set(ty.numpy().tolist())) > 3  # drawn among the other classes, not one target
    out = tmp_path / "kim"
    argv = ["train", "--dataset", "digits", "--model", "cnn", "--watermark", "margin", "--victim-rows", "600"]
    extra = ["--watermark-triggers", "natural", "--watermark-margin", "0.02", "--watermark-size", "40"]
    assert main([*argv, *extra, "--epochs", "5", "--out", str(out)]) == 0
    mark = json.loads((out / "card.json").read_text())["details"]["watermark"]
    assert mark["triggers"] == "natural" and mark["margin"] == 0.02 and mark["size"] == 40
    trigger = [*argv[:6], "trigger", *argv[7:], "--watermark-margin", "0.05", "--out", str(tmp_path / "t")]
    capsys.readouterr()
    assert main(trigger) == 2  # a radius the trigger set would not use is refused, not ignored
    assert "--watermark-margin goes with --watermark margin" in capsys.readouterr().err
    kept = load_watermark(out)  # the owner's directory keeps the triggers; they are never served
    assert kept is not None and kept[1].size == 40
    natural = {row.tobytes() for row in load_dataset("digits").X_train.astype(np.float64)}
    assert all(row.tobytes() in natural for row in kept[0])  # natural rows, not noise


def test_a_wider_cnn_is_recorded_on_its_card_and_reloads_as_trained(tmp_path: Path) -> None:
    out = tmp_path / "wide"
    argv = ["train", "--dataset", "digits", "--model", "cnn", "--cnn-width", "2", "--epochs", "3"]
    assert main([*argv, "--watermark", "trigger", "--out", str(out)]) == 0
    arch = json.loads((out / "card.json").read_text())["details"]["architecture"]
    assert arch["channels"] == [32, 64] and arch["hidden"] == 128
    md = load_model_dir(out)
    convs = [m for m in md.victim.module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64]
    data = load_dataset("digits")
    fresh = train_victim(
        data, "cnn", seed=0, options=TrainOptions(cnn_width=2, epochs=3, watermark="trigger")
    )
    assert np.array_equal(md.victim.predict(data.X_test), fresh.predict(data.X_test))  # same seed, same net


def test_train_embeds_an_entangled_watermark_and_refuses_a_bad_weight(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ewe"
    argv = ["train", "--dataset", "digits", "--model", "cnn", "--watermark", "ewe", "--victim-rows", "600"]
    assert main([*argv, "--watermark-snnl", "0.3", "--watermark-size", "40", "--out", str(out)]) == 0
    mark = json.loads((out / "card.json").read_text())["details"]["watermark"]
    assert mark["kind"] == "ewe" and mark["snnl_weight"] == 0.3 and mark["size"] == 40
    assert mark["trigger_accuracy"] > 0.9
    capsys.readouterr()
    assert main([*argv, "--watermark-snnl", "-1", "--out", str(tmp_path / "bad")]) == 2
    assert "--watermark-snnl must lie in [0, 10]" in capsys.readouterr().err


@pytest.mark.e2e
def test_dp_sgd_learns_a_pattern_watermark_but_not_random_triggers() -> None:
    """Under DP-SGD (ε = 8) the triggers join the private rows: the entangled watermark's
    patched rows, one shared pattern, are learned, while the trigger set's random labels, each
    a single row to memorise, stay near chance. The margin variant is refused with the fix."""
    data = load_dataset("digits")
    owned, _ = split_for_theft(data, random_state=0)
    marks = {}
    for kind in ("ewe", "trigger"):
        victim = train_victim(
            owned, "cnn", seed=0, options=TrainOptions(dp_epsilon=8.0, watermark=kind, epochs=30)
        )
        assert victim.details["dp_sgd"]["epsilon_spent"] <= 8.0
        marks[kind] = victim.details["watermark"]
    assert marks["ewe"]["trigger_accuracy"] >= 0.9 and marks["ewe"]["snnl_weight"] == 0.0
    assert marks["trigger"]["trigger_accuracy"] <= 0.5
    with pytest.raises(InvalidInput, match="use `watermark` trigger or ewe with `dp_epsilon`"):
        train_victim(owned, "cnn", seed=0, options=TrainOptions(dp_epsilon=8.0, watermark="margin"))

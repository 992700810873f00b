"""Other servers' protocols: TF Serving REST, the Open Inference Protocol, MLflow, templates.

The requests and the parsing are checked against the shapes the protocol documents give
(TensorFlow Serving's REST API page, the KServe v2 / Open Inference Protocol page, MLflow's
scoring-server page), then the same attack runs against real servers of those kinds —
KServe's ModelServer (v1 and v2) and MLflow's scoring server, from the upstream venv — and
must spend the same queries and reach the same fidelity as in memory. The mission's own
example API (one image in, class and confidence out) is stolen through a template.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from modelsteal.campaigns.experiment import steal_model_dir, steal_url
from modelsteal.cli import main
from modelsteal.errors import InvalidInput, RateLimited, Refused
from modelsteal.feature_space import FeatureSpace
from modelsteal.oracle.http import ProtocolTransport
from modelsteal.oracle.protocols import (
    MLflowProtocol,
    OpenInferenceProtocol,
    TemplateProtocol,
    TFServingProtocol,
    encode_png,
    make_protocol,
)
from modelsteal.oracle.wire import raise_for_error
from modelsteal.victims import save_model_dir, train_victim
from tests.servers import bespoke_server, kserve_server, mlflow_server

SPACE = FeatureSpace.box([0, 0, 0, 0], [1, 1, 1, 1], ["a", "b", "c", "d"])
X2 = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])
IRIS = ("setosa", "versicolor", "virginica")


# ----------------------------------------------------------------- the documents' own shapes
def test_tfserving_row_format_request_and_both_response_forms() -> None:
    proto = TFServingProtocol()
    req = proto.request(X2, SPACE)
    assert req.method == "POST" and req.path == ":predict"
    assert req.body == {"instances": X2.tolist()}
    # one output tensor: a list per instance
    answers = proto.answers({"predictions": [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]}, 2, IRIS)
    assert answers.labels.tolist() == [0, 2]
    assert answers.probabilities is not None and answers.probabilities.shape == (2, 3)
    # several named outputs: an object per instance; the scores are found by name
    named = {"predictions": [{"scores": [0.2, 0.8, 0.0], "classes": ["a", "b", "c"]}] * 2}
    assert proto.answers(named, 2, IRIS).labels.tolist() == [1, 1]
    picked = TFServingProtocol(output="probs").answers({"predictions": [{"probs": [0.5, 0.1, 0.4]}]}, 1, IRIS)
    assert picked.labels.tolist() == [0]
    with pytest.raises(Refused, match="2 instances"):
        proto.answers({"predictions": [[0.7, 0.2, 0.1]]}, 2, IRIS)
    signed = TFServingProtocol(signature_name="serving_default").request(X2, SPACE)
    assert signed.body["signature_name"] == "serving_default"


def test_tfserving_error_object_maps_to_our_errors() -> None:
    # TF Serving answers every error as {"error": "<message>"}
    with pytest.raises(InvalidInput, match="Input to reshape"):
        raise_for_error(400, {"error": "Input to reshape is a tensor with 3 values"}, {})
    with pytest.raises(RateLimited):
        raise_for_error(429, {"error": "slow down"}, {"retry-after": "2"})
    with pytest.raises(Refused) as caught:
        raise_for_error(500, {"error": "boom"}, {})
    assert caught.value.status == 500


def test_oip_request_follows_the_metadata_and_reads_the_output_tensor() -> None:
    proto = OpenInferenceProtocol()
    assert proto.metadata_path() == ""
    metadata = {
        "name": "iris",
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "input0", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "output0", "datatype": "FP32", "shape": [-1, 3]}],
    }
    proto.use_metadata(metadata, SPACE)
    req = proto.request(X2, SPACE)
    assert req.path == "/infer"
    (tensor,) = req.body["inputs"]
    assert tensor["name"] == "input0" and tensor["datatype"] == "FP32" and tensor["shape"] == [2, 4]
    assert np.allclose(tensor["data"], X2.ravel().astype(np.float32))
    response = {
        "model_name": "iris",
        "id": "42",
        "outputs": [
            {"name": "label", "shape": [2], "datatype": "INT64", "data": [2, 0]},
            {"name": "output0", "shape": [2, 3], "datatype": "FP32", "data": [0.1, 0.2, 0.7, 0.6, 0.3, 0.1]},
        ],
    }
    answers = proto.answers(response, 2, IRIS)
    assert answers.labels.tolist() == [2, 0]
    assert answers.probabilities is not None and answers.probabilities[0, 2] == pytest.approx(0.7)
    # a server that returns only a label tensor (strings) gives labels
    labels = {
        "outputs": [{"name": "label", "shape": [2], "datatype": "BYTES", "data": ["virginica", "setosa"]}]
    }
    only = OpenInferenceProtocol().answers(labels, 2, IRIS)
    assert only.labels.tolist() == [2, 0] and only.probabilities is None
    with pytest.raises(Refused, match="no output named"):
        OpenInferenceProtocol(output="nope").answers(response, 2, IRIS)


def test_oip_without_metadata_sends_float64_named_input_0() -> None:
    tensor = OpenInferenceProtocol().request(X2, SPACE).body["inputs"][0]
    assert tensor == {"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": X2.ravel().tolist()}


def test_mlflow_split_orient_request_and_three_response_forms() -> None:
    proto = MLflowProtocol()
    req = proto.request(X2, SPACE)
    assert req.path == "/invocations"
    assert req.body == {"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": X2.tolist()}}
    assert MLflowProtocol(input_format="inputs").request(X2, SPACE).body == {"inputs": X2.tolist()}
    lists = proto.answers({"predictions": [[0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]}, 2, IRIS)
    assert lists.labels.tolist() == [1, 2]
    records = {"predictions": [{"setosa": 0.1, "versicolor": 0.2, "virginica": 0.7}]}
    assert proto.answers(records, 1, IRIS).labels.tolist() == [2]
    with pytest.raises(Refused, match="predict_proba"):
        proto.answers({"predictions": ["setosa", "virginica"]}, 2, IRIS)
    labels = MLflowProtocol(labels_only=True)
    assert labels.output_mode().kind == "label"
    assert labels.answers({"predictions": ["setosa", "virginica"]}, 2, IRIS).labels.tolist() == [0, 2]


MISSION_TEMPLATE = {
    "request": {"field": "image_base64", "encoding": "png_base64"},
    "response": {"label": "class", "confidence": "confidence"},
    "classes": ["black", "white"],
}


def test_the_missions_example_as_a_template() -> None:
    space = FeatureSpace.box([0.0] * 4, [16.0] * 4, [f"px{i}" for i in range(4)], image_shape=(2, 2))
    proto = TemplateProtocol.from_dict(MISSION_TEMPLATE)
    assert proto.output_mode().kind == "confidence" and proto.rows_per_request == 1
    row = np.array([[0.0, 16.0, 8.0, 4.0]])
    body = proto.request(row, space).body
    assert list(body) == ["image_base64"]
    png = Image.open(io.BytesIO(base64.b64decode(body["image_base64"])))
    assert png.mode == "L" and png.size == (2, 2)
    assert np.asarray(png).ravel().tolist() == [0, 255, 128, 64]
    answers = proto.answers({"class": "black", "confidence": 0.99}, 1, ("black", "white"))
    assert answers.labels.tolist() == [0] and answers.confidences is not None
    assert answers.confidences.tolist() == [0.99]
    with pytest.raises(Refused, match="none of the classes"):
        proto.answers({"class": "grey", "confidence": 0.5}, 1, ("black", "white"))
    with pytest.raises(Refused, match="no value at 'confidence'"):
        proto.answers({"class": "black"}, 1, ("black", "white"))


def test_template_feature_encodings_paths_and_probability_objects() -> None:
    proto = TemplateProtocol.from_dict(
        {
            "request": {
                "path": "/score",
                "field": "data.row",
                "encoding": "features_object",
                "extra": {"v": 2},
            },
            "response": {"probabilities": "result.scores"},
        }
    )
    req = proto.request(X2[:1], SPACE)
    assert req.path == "/score"
    assert req.body == {"v": 2, "data": {"row": dict(zip("abcd", X2[0].tolist(), strict=True))}}
    answers = proto.answers(
        {"result": {"scores": {"virginica": 0.5, "setosa": 0.2, "versicolor": 0.3}}}, 1, IRIS
    )
    assert answers.labels.tolist() == [2]
    assert answers.probabilities is not None and answers.probabilities.tolist() == [[0.2, 0.3, 0.5]]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"response": {"label": "class"}}, "needs a 'request' mapping"),
        ({"request": {"encoding": "png_base64"}, "response": {"label": "x"}}, "request.field"),
        ({"request": {"field": "x", "encoding": "jpeg"}, "response": {"label": "x"}}, "encoding 'jpeg'"),
        ({"request": {"field": "x"}, "response": {}}, "label path, a probabilities path"),
        ({"request": {"field": "x", "method": "GET"}, "response": {"label": "x"}}, "unknown keys method"),
    ],
)
def test_bad_templates_name_the_fix(spec: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        TemplateProtocol.from_dict(spec)


def test_unknown_protocol_and_misplaced_template() -> None:
    with pytest.raises(InvalidInput, match="choose one of"):
        make_protocol("grpc")
    with pytest.raises(InvalidInput, match="needs `template`"):
        make_protocol("template")
    with pytest.raises(InvalidInput, match="goes with `protocol` template"):
        make_protocol("mlflow", template="t.yaml")
    with pytest.raises(InvalidInput, match="not an image"):
        encode_png(np.zeros(4), SPACE)


def test_a_server_that_is_down_or_answers_garbage() -> None:
    from tests.servers import free_port

    down = ProtocolTransport(
        f"http://127.0.0.1:{free_port()}/v1/models/m", TFServingProtocol(), feature_space=SPACE, classes=IRIS
    )
    with pytest.raises(Refused) as caught:
        down.send(X2)
    assert caught.value.code == "unreachable"

    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>hello</html>")

    client = httpx.Client(transport=httpx.MockTransport(garbage))
    odd = ProtocolTransport(
        "http://upstream/v1/models/m", TFServingProtocol(), feature_space=SPACE, classes=IRIS, client=client
    )
    with pytest.raises(Refused) as caught:
        odd.send(X2)
    assert caught.value.code == "bad_response"
    with pytest.raises(InvalidInput, match="not a tfserving model address"):
        ProtocolTransport("http://h:1/predict", TFServingProtocol(), feature_space=SPACE, classes=IRIS)


# ----------------------------------------------------------------------------- real servers
@pytest.fixture(scope="module")
def digits_softmax(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelsteal.datasets import load_dataset

    data = load_dataset("digits")
    victim = train_victim(data, "softmax", seed=0)
    return save_model_dir(victim, data, tmp_path_factory.mktemp("victim") / "digits-softmax", seed=0)


def _same_as_in_memory(result: object, reference: object) -> None:
    assert result.queries == reference.queries  # type: ignore[attr-defined]
    got, want = result.comparison, reference.comparison  # type: ignore[attr-defined]
    assert got is not None and want is not None
    assert got.fidelity_test == want.fidelity_test == 1.0
    assert got.fidelity_uniform == want.fidelity_uniform == 1.0


@pytest.mark.parametrize(
    ("protocol", "path"), [("tfserving", "/v1/models/digits"), ("oip", "/v2/models/digits")]
)
@pytest.mark.e2e
def test_a_real_kserve_server_is_stolen_as_the_model_in_memory(
    digits_softmax: Path, protocol: str, path: str
) -> None:
    reference = steal_model_dir(digits_softmax, "eq-softmax", budget=65, seed=0)
    with kserve_server(digits_softmax / "model.skops", "digits") as (url, _):
        result, name, family = steal_url(
            url + path, None, "eq-softmax", budget=65, seed=0, eval_dir=digits_softmax, protocol=protocol
        )
    assert name == "digits" and family is None  # such servers do not publish the family
    _same_as_in_memory(result, reference)


@pytest.mark.e2e
def test_a_real_mlflow_scoring_server_is_stolen_as_the_model_in_memory(
    digits_softmax: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = steal_model_dir(digits_softmax, "eq-softmax", budget=65, seed=0)
    space_file = tmp_path / "space.json"
    from modelsteal.victims import load_model_dir

    md = load_model_dir(digits_softmax)
    space_file.write_text(json.dumps({**md.feature_space.to_dict(), "classes": list(md.card["classes"])}))
    with mlflow_server(digits_softmax / "model.skops", tmp_path) as (url, _):
        result, _, _ = steal_url(
            url, None, "eq-softmax", budget=65, seed=0, eval_dir=digits_softmax, protocol="mlflow"
        )
        _same_as_in_memory(result, reference)
        # the CLI, with the inputs and classes from a feature-space file
        code = main(
            [
                *("attack", url, "--protocol", "mlflow", "--feature-space", str(space_file)),
                *("--attack", "eq-softmax", "--budget", "65", "--json"),
            ]
        )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["queries"] == 65 and summary["evaluated"] is False


@pytest.fixture(scope="module")
def digits_mlp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelsteal.datasets import load_dataset

    data = load_dataset("digits")
    victim = train_victim(data, "mlp", seed=0)
    return save_model_dir(victim, data, tmp_path_factory.mktemp("victim") / "digits-mlp", seed=0)


@pytest.mark.e2e
def test_the_missions_example_api_is_stolen_through_a_template(
    digits_mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run_json(argv: list[str]) -> dict:
        assert main(argv) == 0
        return dict(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))

    template = tmp_path / "api.yaml"
    template.write_text(
        "request:\n  path: /classify\n  field: image_base64\n  encoding: png_base64\n"
        "response:\n  label: class\n  confidence: confidence\n"
    )
    budget = ["--attack", "knockoff", "--budget", "300", "--seed", "0", "--json"]
    local = run_json(["attack", str(digits_mlp), "--output-mode", "confidence", *budget])
    with bespoke_server(digits_mlp) as (url, _):
        remote = run_json(
            [
                "attack",
                url,
                "--protocol",
                "template",
                "--template",
                str(template),
                "--eval",
                str(digits_mlp),
                *budget,
            ]
        )
    assert remote["queries"] == local["queries"] == 300
    # digits pixels are whole numbers 0-16 and travel as 8-bit grey: a few answers may differ
    assert abs(remote["fidelity_test"] - local["fidelity_test"]) <= 0.01
    assert remote["fidelity_test"] >= 0.85

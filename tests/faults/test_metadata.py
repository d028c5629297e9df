"""Malformed model metadata, field by field: one ``ModelFileError`` naming the field.

Each case rewrites the ``__deltarule__`` JSON of a trained XOR model (2-3-1)
and loads it.  The error must name the field and what it should hold; no
case may allocate the network it describes (huge ``layers`` are refused by
the schema, before any array exists) or reach a ``TypeError``,
``RecursionError`` or silently wrong model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltarule
from deltarule import ModelFileError, UnknownComponentError
from deltarule.io.schema import MAX_JSON_DEPTH, MAX_META_BYTES, parse_metadata

from .conftest import assert_one_line_error, cli, params_equal
from .hostile import digest, meta_member, rewrite_model

SIG = {"name": "sigmoid", "options": {}}

# (field, bad value, words the message must hold)
BAD_FIELDS = [
    ("format", "keras-model", "not a deltarule model"),
    ("format", 1, "not a deltarule model"),
    ("format_version", "2", "'format_version' must be a positive integer"),
    ("format_version", 2.0, "'format_version' must be a positive integer"),
    ("format_version", True, "'format_version' must be a positive integer"),
    ("format_version", 0, "'format_version' must be a positive integer"),
    ("format_version", -1, "'format_version' must be a positive integer"),
    ("format_version", None, "'format_version' must be a positive integer"),
    ("format_version", 99, "uses model format 99; this deltarule reads formats 1 to 2"),
    ("deltarule_version", 1.0, "'deltarule_version' must be a string"),
    ("layers", None, "'layers' must be a list of at least 2 positive integers"),
    ("layers", [2], "'layers' must be a list of at least 2 positive integers"),
    ("layers", [], "'layers' must be a list of at least 2 positive integers"),
    ("layers", [2.5, 3, 1], "'layers' must be a list"),
    ("layers", [2.0, 3, 1], "'layers' must be a list"),
    ("layers", ["2", 3, 1], "'layers' must be a list"),
    ("layers", [0, 3, 1], "'layers' must be a list"),
    ("layers", [-2, 3, 1], "'layers' must be a list"),
    ("layers", [True, 3, 1], "'layers' must be a list"),
    ("layers", "2,3,1", "'layers' must be a list"),
    ("layers", {"0": 2}, "'layers' must be a list"),
    ("layers", [1_000_000_000, 1_000_000_000], "describes a network of 1000000001000000000 "
                                               "parameters"),
    ("layers", [2, 4, 1], "member 'W1' has shape (2, 3); expected (2, 4)"),
    ("layers", [2, 3, 3, 1], "'activations' must be a list of 3"),
    ("activations", None, "'activations' must be a list of 2"),
    ("activations", [], "'activations' must be a list of 2"),
    ("activations", [SIG], "'activations' must be a list of 2"),
    ("activations", [SIG, SIG, SIG], "'activations' must be a list of 2"),
    ("activations", {"name": "sigmoid"}, "'activations' must be a list of 2"),
    ("activations", ["sigmoid", "sigmoid"], "'activations[0]' must be"),
    ("activations", [{"name": {"a": 1}}, SIG], "'activations[0].name' must be a non-empty"),
    ("activations", [SIG, {"name": ""}], "'activations[1].name' must be a non-empty"),
    ("activations", [SIG, {"options": {}}], "'activations[1].name' must be a non-empty"),
    ("activations", [SIG, {"name": "sigmoid", "options": [1]}],
     "'activations[1].options' must be an object"),
    ("activations", [SIG, {"name": "leaky_relu", "options": {"bogus": 1}}],
     "'activations[1].options' is not accepted by activation 'leaky_relu'"),
    ("dtype", "int8", "'dtype' must be 'float32' or 'float64'"),
    ("dtype", "object", "'dtype' must be 'float32' or 'float64'"),
    ("dtype", "U10", "'dtype' must be 'float32' or 'float64'"),
    ("dtype", "complex128", "'dtype' must be 'float32' or 'float64'"),
    ("dtype", "float16", "'dtype' must be 'float32' or 'float64'"),
    ("dtype", 64, "'dtype' must be 'float32' or 'float64'"),
    ("dtype", "float32", "member 'W1' has dtype float64; expected float32"),
    ("loss", 5, "'loss' must be a component name"),
    ("loss", "", "'loss' must be a component name"),
    ("optimizer", {"name": "sgd"}, "'optimizer' must be a component name"),
    ("epochs", -1, "'epochs' must be an integer ≥ 0"),
    ("epochs", "50", "'epochs' must be an integer ≥ 0"),
    ("epochs", 2.5, "'epochs' must be an integer ≥ 0"),
    ("epochs", True, "'epochs' must be an integer ≥ 0"),
    ("final_loss", "low", "'final_loss' must be a number or null"),
    ("final_loss", True, "'final_loss' must be a number or null"),
    ("final_loss", [0.1], "'final_loss' must be a number or null"),
    ("stop_reason", 42, "'stop_reason' must be a non-empty string"),
    ("stop_reason", True, "'stop_reason' must be a non-empty string"),
    ("stop_reason", "", "'stop_reason' must be a non-empty string"),
    # the optional fields of format 2 (scaler, classes, names)
    ("scaler", "standard", "'scaler' must be null or"),
    ("scaler", {"kind": "zscore", "offset": [0, 0], "scale": [1, 1]},
     "'scaler.kind' must be 'standard' or 'minmax'"),
    ("scaler", {"kind": "standard", "offset": [0], "scale": [1, 1]},
     "'scaler.offset' must be a list of 2 finite numbers"),
    ("scaler", {"kind": "standard", "offset": [0, math.nan], "scale": [1, 1]},
     "'scaler.offset' must be a list of 2 finite numbers"),
    ("scaler", {"kind": "minmax", "offset": ["0", 0], "scale": [1, 1]},
     "'scaler.offset' must be a list of 2 finite numbers"),
    ("scaler", {"kind": "minmax", "offset": [0, 0], "scale": [1, 0]},
     "'scaler.scale' must be a list of 2 finite numbers > 0"),
    ("scaler", {"kind": "minmax", "offset": [0, 0], "scale": [-1, 1]},
     "'scaler.scale' must be a list of 2 finite numbers > 0"),
    ("scaler", {"kind": "minmax", "offset": [0, 0], "scale": [1, math.inf]},
     "'scaler.scale' must be a list of 2 finite numbers > 0"),
    ("scaler", {"kind": "standard", "offset": [0, 0]},
     "'scaler.scale' must be a list of 2 finite numbers > 0"),
    ("classes", "ab", "'classes' must be a list of 2 labels"),
    ("classes", ["a"], "'classes' must be a list of 2 labels"),
    ("classes", [0, 1, 2], "'classes' must be a list of 2 labels"),
    ("classes", ["a", "a"], "'classes' must be distinct labels"),
    ("classes", [1, 1.0], "'classes' must be distinct labels"),
    ("classes", ["a", True], "'classes[1]' must be a string or a finite number"),
    ("classes", [None, 1], "'classes[0]' must be a string or a finite number"),
    ("classes", [[0], [1]], "'classes[0]' must be a string or a finite number"),
    ("classes", [0, math.nan], "'classes[1]' must be a string or a finite number"),
    ("feature_names", ["a"], "'feature_names' must be a list of 2 strings"),
    ("feature_names", ["a", 2], "'feature_names' must be a list of 2 strings"),
    ("feature_names", "ab", "'feature_names' must be a list of 2 strings"),
    ("target_names", [], "'target_names' must be a list of 1 strings"),
    ("target_names", ["a", "b"], "'target_names' must be a list of 1 strings"),
    ("target_names", [7], "'target_names' must be a list of 1 strings"),
]


@pytest.mark.parametrize("field, value, words", BAD_FIELDS,
                         ids=[f"{f}={v!r}"[:40] for f, v, _ in BAD_FIELDS])
def test_a_bad_field_is_named(model_copy, tmp_path, field, value, words):
    path = rewrite_model(model_copy, tmp_path / "m.npz", set_meta={field: value})
    before = digest(path)
    with pytest.raises(ModelFileError) as info:
        deltarule.load(path)
    message = str(info.value)
    assert words in message, message
    assert "\n" not in message and digest(path) == before


@pytest.mark.parametrize("field", ["format", "format_version", "layers", "activations"])
def test_a_missing_required_field_is_named(model_copy, tmp_path, field):
    path = rewrite_model(model_copy, tmp_path / "m.npz", drop_meta=[field])
    with pytest.raises(ModelFileError, match=field if field != "format" else "format tag"):
        deltarule.load(path)


@pytest.mark.parametrize("field", ["deltarule_version", "dtype", "loss", "optimizer",
                                   "epochs", "final_loss", "stop_reason"])
def test_optional_fields_may_be_left_out(model_copy, tmp_path, xor_model, field):
    path = rewrite_model(model_copy, tmp_path / "m.npz", drop_meta=[field])
    assert params_equal(deltarule.load(path).params, xor_model[1].params)


def test_an_unknown_activation_says_which(model_copy, tmp_path):
    path = rewrite_model(model_copy, tmp_path / "m.npz",
                         set_meta={"activations": [SIG, {"name": "swish9"}]})
    with pytest.raises(UnknownComponentError, match="swish9"):
        deltarule.load(path)


def test_a_format_2_file_with_every_optional_field_loads(model_copy, tmp_path, xor_model):
    path = rewrite_model(model_copy, tmp_path / "m.npz", set_meta={
        "format_version": 2,
        "scaler": {"kind": "standard", "offset": [0.5, 0.5], "scale": [0.5, 2.0]},
        "classes": ["no", "yes"], "feature_names": ["x1", "x2"], "target_names": ["xor"],
        "future_field": {"ignored": True},
    })
    assert params_equal(deltarule.load(path).params, xor_model[1].params)


@pytest.mark.parametrize("final_loss", [math.nan, math.inf, None, 0])
def test_final_loss_may_be_any_number(model_copy, tmp_path, final_loss):
    deltarule.load(rewrite_model(model_copy, tmp_path / "m.npz",
                                 set_meta={"final_loss": final_loss}))


# -- the JSON itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, words", [
    ("[" * 100_000 + "]" * 100_000, f"JSON nested 100000 deep (limit {MAX_JSON_DEPTH})"),
    ('{"format": "deltarule-model", "x": ' + "[" * 40 + "]" * 40 + "}",
     "nested 41 deep"),
    ("not json", "damaged metadata"),
    ('{"format": "deltarule-model", ', "damaged metadata"),
    (b"\xff\xfe{}", "damaged metadata: not UTF-8"),
    ("[1, 2]", "its metadata is list, not a JSON object"),
    ('"deltarule-model"', "its metadata is str, not a JSON object"),
    ('{"format": "deltarule-model", "format_version": 1, "layers": [' + "9" * 5000 + ", 1]}",
     "damaged metadata"),
])
def test_damaged_json(model_copy, tmp_path, text, words):
    path = rewrite_model(model_copy, tmp_path / "m.npz",
                         members={"__deltarule__": meta_member(text=text)})
    with pytest.raises(ModelFileError) as info:
        deltarule.load(path)
    assert words in str(info.value)


def test_json_size_limit_is_checked_before_decoding():
    with pytest.raises(ModelFileError, match=f"too large .* limit {MAX_META_BYTES}"):
        parse_metadata(b" " * (MAX_META_BYTES + 1), "'m.npz'")


def test_strings_do_not_count_towards_the_depth():
    meta = parse_metadata(b'{"format": "deltarule-model", "format_version": 1, '
                          b'"layers": [1, 1], "activations": [{"name": "sigmoid"}], '
                          b'"note": "' + b"[" * 500 + b'"}', "'m.npz'")
    assert meta.layers == (1, 1)


# -- through the command line: one line, status 2 ----------------------------------------------


@pytest.mark.parametrize("field, value", [("activations", None), ("dtype", "complex128"),
                                          ("layers", [2]), ("format_version", "2")])
def test_predict_with_bad_metadata_is_one_line(model_copy, tmp_path, capsys, field, value):
    path = rewrite_model(model_copy, tmp_path / "m.npz", set_meta={field: value})
    status, out, err = cli(capsys, "predict", path, "xor")
    assert_one_line_error(status, err, "m.npz", f"'{field}'")
    assert out == ""


def test_a_model_of_complex_parameters_is_refused(model_copy, tmp_path):
    W1 = np.ones((2, 3)) * (1 + 2j)
    from .hostile import npy

    path = rewrite_model(model_copy, tmp_path / "m.npz", members={"W1": npy(W1)})
    with pytest.raises(ModelFileError, match="has dtype complex128"):
        deltarule.load(path)

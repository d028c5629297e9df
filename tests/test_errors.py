"""Bad input: a deltarule error before any training, naming problem and fix."""

from __future__ import annotations

import numpy as np
import pytest

import deltarule
from deltarule.datasets import xor


class Spy:
    """Fails the test if any epoch starts."""

    @deltarule.hookimpl
    def deltarule_train_start(self, state):
        raise AssertionError("training started despite bad input")


def train(X, y, **kw):
    kw.setdefault("layers", [2, 3, 1])
    kw.setdefault("max_epochs", 2)
    return deltarule.train(X, y, plugins=[Spy()], **kw)


@pytest.mark.parametrize("bad, where", [(np.nan, "NaN"), (np.inf, "an infinite value"),
                                        (-np.inf, "an infinite value")])
def test_non_finite_data(bad, where):
    X, y = xor()
    X[2, 1] = bad
    with pytest.raises(deltarule.DataError,
                       match=f"X contains {where} at row 2, column 1.*remove or impute"):
        train(X, y)
    X, y = xor()
    y[3, 0] = bad
    with pytest.raises(ValueError, match=f"y contains {where} at row 3, column 0"):
        train(X, y)


def test_value_too_large_for_float32():
    X, y = xor()
    X[0, 0] = 1e300
    with pytest.raises(deltarule.DataError, match="too large for float32"):
        train(X, y, dtype="float32")


def test_non_numeric_data():
    X = [[0, 1], [1, "a"], [1, 1], [0, 0]]
    with pytest.raises(deltarule.DataTypeError,
                       match=r"X must hold numbers only, but entry \(1, 1\) is 'a'"):
        train(X, xor()[1])
    with pytest.raises(TypeError, match="y is None"):
        train(xor()[0], None)
    with pytest.raises(TypeError, match="complex"):
        train(xor()[0].astype(complex), xor()[1])


def test_x_width_must_match_input_layer():
    X, y = xor()
    with pytest.raises(deltarule.DataError,
                       match=r"X has 2 columns but the input layer has 3 units.*layers\[0\] == 2"):
        train(X, y, layers=[3, 3, 1])


def test_y_width_must_match_output_layer():
    X, y = xor()
    with pytest.raises(ValueError,
                       match=r"y has 1 columns but the output layer has 2 units.*layers\[-1\] == 1"):
        train(X, y, layers=[2, 3, 2])


def test_row_counts_must_agree():
    X, y = xor()
    with pytest.raises(deltarule.DataError, match="X has 4 rows but y has 3"):
        train(X, y[:3])


def test_one_dimensional_x_is_refused_with_a_hint():
    with pytest.raises(deltarule.DataError, match=r"X must be 2-D.*reshape\(-1, 1\)"):
        train(np.zeros(4), np.zeros(4), layers=[1, 1])


def test_empty_data():
    with pytest.raises(deltarule.DataError, match="X has no rows"):
        train(np.zeros((0, 2)), np.zeros((0, 1)))


@pytest.mark.parametrize("layers", [[2], [], [2, 0, 1], [2, 2.5, 1], "abc", 3])
def test_fewer_than_two_layers_or_bad_widths(layers):
    X, y = xor()
    with pytest.raises(deltarule.ConfigError, match="layers|layer width"):
        train(X, y, layers=layers)


def test_fewer_than_two_layers_message():
    X, y = xor()
    with pytest.raises(ValueError, match=r"at least two sizes \(inputs and outputs\), got \[2\]"):
        train(X, y, layers=[2])


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf")])
def test_learning_rate_must_be_positive(lr):
    X, y = xor()
    with pytest.raises(deltarule.ConfigError, match="lr .*must be positive"):
        train(X, y, lr=lr)


def test_learning_rate_must_be_a_number():
    X, y = xor()
    with pytest.raises(ValueError, match=r"lr \(the learning rate\) must be a positive number"):
        train(X, y, lr="fast")


def test_explicit_init_of_the_wrong_shape():
    X, y = xor()
    init = [(np.zeros((2, 3)), np.zeros(3)), (np.zeros((2, 1)), np.zeros(1))]
    with pytest.raises(deltarule.DataError,
                       match=r"init W2 has shape \(2, 1\) but layers=\[2, 3, 1\] needs \(3, 1\)"):
        train(X, y, init=init)
    with pytest.raises(deltarule.DataError, match="one \\(W, b\\) pair per layer: 2"):
        train(X, y, init=init[:1])


def test_unknown_component_names_list_the_available_ones():
    X, y = xor()
    with pytest.raises(deltarule.UnknownComponentError,
                       match=r"unknown activation 'sigmod' \(did you mean 'sigmoid'\?\); available: .*sigmoid"):
        train(X, y, activation="sigmod")
    for option, family in (("loss", "loss"), ("optimizer", "optimizer"),
                           ("init", "initializer")):
        with pytest.raises(ValueError, match=f"unknown {family} 'nope'; available: "):
            train(X, y, **{option: "nope"})


def test_activation_list_of_the_wrong_length():
    X, y = xor()
    with pytest.raises(deltarule.ConfigError, match="2 weight layers"):
        train(X, y, activation=["sigmoid"] * 3)


def test_unknown_option_is_named():
    X, y = xor()
    with pytest.raises(TypeError, match=r"unknown training option\(s\) \['learning_rate'\]"):
        train(X, y, learning_rate=0.1)


def test_bad_dtype():
    X, y = xor()
    with pytest.raises(deltarule.ConfigError, match="dtype must be 'float64' or 'float32'"):
        train(X, y, dtype="int8")


def test_endless_run_is_refused():
    X, y = xor()
    with pytest.raises(deltarule.ConfigError, match="would train forever"):
        train(X, y, max_epochs=None)


def test_caller_arrays_are_never_modified():
    X, y = xor()
    init = [(np.ones((2, 3)), np.zeros(3)), (np.ones((3, 1)), np.zeros(1))]
    copies = [X.copy(), y.copy()] + [a.copy() for pair in init for a in pair]
    result = deltarule.train(X, y, layers=[2, 3, 1], init=init, max_epochs=50)
    for before, after in zip(copies, [X, y] + [a for pair in init for a in pair]):
        np.testing.assert_array_equal(before, after)
    # and the result's parameters are copies, not views into the live network
    W = result.params[0][0]
    W[...] = 0
    assert result.params[0][0].any()


def test_errors_are_value_or_type_errors():
    for cls in (deltarule.DataError, deltarule.ConfigError, deltarule.UnknownComponentError,
                deltarule.ComponentClashError, deltarule.ModelFileError):
        assert issubclass(cls, ValueError)
    for cls in (deltarule.DataTypeError, deltarule.PluginError, deltarule.ComponentError):
        assert issubclass(cls, TypeError)


def test_cross_entropy_targets_must_be_distributions():
    X = np.eye(3)
    labels = np.array([[0.0], [1.0], [2.0]])  # class labels instead of one-hot rows
    with pytest.raises(deltarule.DataError,
                       match=r"^y: cross_entropy needs one-hot \(or probability\) rows, but "
                             r"row 0 of the targets sums to 0; one-hot encode class labels"):
        train(X, np.hstack([labels, labels, labels]), layers=[3, 4, 3],
              activation=["sigmoid", "softmax"], loss="cross_entropy")
    with pytest.raises(deltarule.DataError, match="negative entry"):
        train(X, np.array([[1.5, -0.5, 0], [0, 1, 0], [0, 0, 1]]), layers=[3, 4, 3],
              activation=["sigmoid", "softmax"], loss="cross_entropy")
    with pytest.raises(deltarule.DataError, match="y_val: cross_entropy needs one-hot"):
        deltarule.train(X, np.eye(3), layers=[3, 4, 3], activation=["sigmoid", "softmax"],
                        loss="cross_entropy", max_epochs=1, plugins=[Spy()],
                        validation_data=(X, 2 * np.eye(3)))


def test_binary_cross_entropy_targets_must_be_probabilities():
    X, y = xor()
    with pytest.raises(deltarule.DataError,
                       match=r"binary_cross_entropy needs targets between 0 and 1, but row 0, "
                             r"column 0 is 2; use 0/1 labels"):
        train(X, 2 * y, loss="binary_cross_entropy")


def test_negative_seed_is_refused_before_numpy_sees_it():
    X, y = xor()
    with pytest.raises(deltarule.ConfigError, match="seed must be a non-negative int"):
        train(X, y, seed=-1)


def test_bad_optimizer_options_are_named():
    X, y = xor()
    with pytest.raises(deltarule.ConfigError, match="optimizer_options must be a dict"):
        train(X, y, optimizer_options=5)
    with pytest.raises(deltarule.ConfigError, match=r"optimizer 'sgd' has no option 'nope'"):
        train(X, y, optimizer=("sgd", {"nope": 1}))


def test_validation_split_and_data_together_are_refused():
    X, y = xor()
    with pytest.raises(deltarule.ConfigError, match="validation_split or validation_data, not both"):
        deltarule.train(X, y, layers=[2, 3, 1], validation_split=0.5, max_epochs=1,
                        validation_data=(X, y), plugins=[Spy()])


def test_a_network_needs_one_activation_per_layer():
    from deltarule.network import Network
    from deltarule.plugins.activations import Sigmoid

    params = [(np.ones((2, 3)), np.zeros(3)), (np.ones((3, 1)), np.zeros(1))]
    with pytest.raises(deltarule.DataError, match="2 weight layers but 1 activations"):
        Network([2, 3, 1], [Sigmoid()], params)


def test_set_params_is_all_or_nothing():
    X, y = xor()
    net = deltarule.train(X, y, layers=[2, 3, 1], max_epochs=1, seed=0).network
    before = net.theta.copy()
    bad = [(np.zeros((2, 3)), np.zeros(3)), (np.zeros((2, 1)), np.zeros(1))]
    with pytest.raises(deltarule.DataError, match="W2 has shape"):
        net.set_params(bad)
    np.testing.assert_array_equal(net.theta, before)

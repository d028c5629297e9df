"""deltarule.sklearn: a drop-in for scikit-learn's MLP estimators.

Proved here: scikit-learn's own estimator checks; the same constructor
parameters and defaults; the same updates as scikit-learn to rounding, for
every solver, schedule, alpha, sample weights, early stopping and target
kind (by starting both from the same weights); the same fitted attributes;
partial_fit's one-pass semantics; scores side by side on four data sets.
"""

from __future__ import annotations

import inspect
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip(
    "sklearn", reason="scikit-learn is not installed (pip install 'deltarule[sklearn]')"
)

import sklearn.neural_network as skl  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_digits,
    load_iris,
    make_classification,
    make_friedman1,
    make_moons,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import deltarule  # noqa: E402
import deltarule.sklearn as drs  # noqa: E402
from deltarule import ConfigError, DeltaRuleWarning  # noqa: E402
from deltarule.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

PAIRS = [(MLPClassifier, skl.MLPClassifier), (MLPRegressor, skl.MLPRegressor)]


@parametrize_with_checks([
    MLPClassifier(),
    MLPRegressor(),
    MLPClassifier(hidden_layer_sizes=(8, 4), activation="tanh", solver="sgd",
                  learning_rate="adaptive", alpha=0.01),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# -- the same parameters ---------------------------------------------------

@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_every_sklearn_parameter_with_the_same_default(ours, theirs):
    mine = inspect.signature(ours.__init__).parameters
    for name, p in inspect.signature(theirs.__init__).parameters.items():
        if name == "self":
            continue
        assert name in mine, name
        assert mine[name].default == p.default, name
        assert mine[name].kind == p.kind, name
    extra = set(mine) - set(inspect.signature(theirs.__init__).parameters)
    assert extra <= {"loss", "out_activation", "plugins"}


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_lbfgs_is_a_clear_error(cls):
    X, y = make_classification(30, 3, n_informative=2, n_redundant=0, random_state=0)
    with pytest.raises(ConfigError, match="lbfgs.*'adam'.*'sgd'"):
        cls(solver="lbfgs").fit(X, y)


@pytest.mark.parametrize("params, match", [
    ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": "big"}, "hidden_layer_sizes"),
    ({"batch_size": "huge"}, "batch_size"),
    ({"learning_rate": "fast"}, "learning_rate"),
    ({"learning_rate_init": 0.0}, "learning_rate_init"),
    ({"momentum": 1.5}, "momentum"),
    ({"beta_2": 1.0}, "beta_2"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"n_iter_no_change": 0}, "n_iter_no_change"),
    ({"activation": "tanhh"}, "tanh"),
    ({"random_state": "seed"}, "random_state"),
])
def test_bad_parameters_raise_value_errors_at_fit(params, match):
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(**params)  # like scikit-learn, __init__ never validates
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)


# -- the same updates: start both from scikit-learn's weights ---------------

def _same_start(ours, theirs, X, y, fit_kw):
    """Fit both for one epoch, then give ours scikit-learn's parameters and
    bookkeeping, so the next warm-started fit starts from the same place."""
    theirs.fit(X, y, **fit_kw)
    ours.fit(X, y, **fit_kw)
    for mine, their in zip(ours.coefs_ + ours.intercepts_,
                           theirs.coefs_ + theirs.intercepts_):
        mine[...] = their
    ours.best_loss_ = theirs.best_loss_
    ours.best_validation_score_ = theirs.best_validation_score_
    ours.loss_curve_ = list(theirs.loss_curve_)
    if theirs.validation_scores_ is not None:
        ours.validation_scores_ = list(theirs.validation_scores_)
        # forget the first fit's best score: its parameters differ (and
        # scikit-learn's then alias its live ones, coefs_ = _best_coefs)
        ours.best_validation_score_ = theirs.best_validation_score_ = -np.inf
    ours.t_ = theirs.t_


def _max_diff(ours, theirs):
    return max(float(np.abs(a - b).max()) for a, b in zip(
        ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_))


X3, Y3 = make_classification(120, 5, n_classes=3, n_informative=3, random_state=0)
W3 = np.random.default_rng(0).integers(0, 3, 120).astype(float)
XR, YR = make_regression(120, 5, n_targets=2, random_state=0)
YR = YR / 100


@pytest.mark.parametrize("params", [
    {"solver": "sgd", "momentum": 0.0},
    {"solver": "sgd"},
    {"solver": "sgd", "nesterovs_momentum": False},
    {"solver": "adam"},
    {"solver": "adam", "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4},
    {"solver": "sgd", "learning_rate": "invscaling", "learning_rate_init": 0.1,
     "power_t": 0.3},
    {"solver": "sgd", "learning_rate": "adaptive", "tol": 10.0, "n_iter_no_change": 1},
    {"solver": "sgd", "batch_size": 32, "alpha": 0.1},
    {"activation": "logistic", "alpha": 1.0},
    {"activation": "tanh", "batch_size": 50},
    {"activation": "identity", "early_stopping": True, "n_iter_no_change": 3},
    {"tol": 1.0, "n_iter_no_change": 2},
], ids=repr)
def test_classifier_updates_match_sklearn_to_rounding(params):
    p = dict(hidden_layer_sizes=(7,), batch_size=120, shuffle=False, alpha=0.01,
             random_state=0, max_iter=1, warm_start=True)
    p.update(params)
    theirs, ours = skl.MLPClassifier(**p), MLPClassifier(**p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        _same_start(ours, theirs, X3, Y3, {})
        theirs.set_params(max_iter=20).fit(X3, Y3)
        ours.set_params(max_iter=20).fit(X3, Y3)
    assert _max_diff(ours, theirs) < 1e-12
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-12)
    if theirs.validation_scores_ is not None:
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
        assert ours.best_validation_score_ == theirs.best_validation_score_


@pytest.mark.parametrize("kind, X, y, params, weighted", [
    ("classifier", X3, Y3 % 2, {}, True),                       # binary, one sigmoid unit
    ("classifier", X3, Y3, {}, True),                           # softmax
    ("classifier", X3, np.column_stack([Y3 == 0, Y3 == 1]).astype(int), {}, False),
    ("regressor", XR, YR[:, 0], {"early_stopping": True}, True),
    ("regressor", XR, YR, {"solver": "adam"}, False),           # two outputs
], ids=["binary-weighted", "multiclass-weighted", "multilabel", "regression-es-weighted",
        "regression-2-outputs"])
def test_targets_and_sample_weights_match_sklearn(kind, X, y, params, weighted):
    p = dict(hidden_layer_sizes=(6,), batch_size=50, shuffle=False, alpha=0.01,
             random_state=0, max_iter=1, warm_start=True, solver="sgd",
             learning_rate_init=0.01, n_iter_no_change=100)
    p.update(params)
    ours_cls, their_cls = PAIRS[0] if kind == "classifier" else PAIRS[1]
    theirs, ours = their_cls(**p), ours_cls(**p)
    fit_kw = {"sample_weight": W3} if weighted else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        _same_start(ours, theirs, X, y, fit_kw)
        theirs.set_params(max_iter=15).fit(X, y, **fit_kw)
        ours.set_params(max_iter=15).fit(X, y, **fit_kw)
    assert _max_diff(ours, theirs) < 1e-12
    if kind == "classifier":
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    else:
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12,
                                   atol=1e-12)
    if kind == "regressor" and np.ndim(y) == 2:
        # documented: our loss sums over outputs, scikit-learn's reports the mean
        np.testing.assert_allclose(ours.loss_curve_[-1] / 2, theirs.loss_curve_[-1],
                                   rtol=0.05)
    else:
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-12)


def test_zero_weights_equal_dropping_the_rows():
    keep = W3 > 0
    p = dict(hidden_layer_sizes=(5,), batch_size=1000, shuffle=False, random_state=3,
             max_iter=30, solver="sgd", learning_rate_init=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        a = MLPClassifier(**p).fit(X3, Y3, sample_weight=keep.astype(float))
        b = MLPClassifier(**p).fit(X3[keep], Y3[keep])
    assert _max_diff(a, b) < 1e-12


# -- the same fitted attributes --------------------------------------------

ATTRIBUTES = ["coefs_", "intercepts_", "loss_", "best_loss_", "loss_curve_",
              "validation_scores_", "best_validation_score_", "n_iter_", "t_", "n_layers_",
              "n_outputs_", "out_activation_", "n_features_in_"]


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_fitted_attributes_as_sklearn(ours, theirs, early_stopping):
    X, y = make_classification(80, 4, n_informative=2, n_redundant=0, random_state=0)
    p = dict(hidden_layer_sizes=(5, 3), max_iter=7, random_state=0,
             early_stopping=early_stopping)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        a, b = ours(**p).fit(X, y), theirs(**p).fit(X, y)
    for name in ATTRIBUTES:
        va, vb = getattr(a, name), getattr(b, name)
        assert type(va) is type(vb) or (np.isscalar(va) and np.isscalar(vb)), name
        if name in ("coefs_", "intercepts_"):
            assert [x.shape for x in va] == [x.shape for x in vb]
        elif isinstance(vb, list):
            assert len(va) == len(vb), name
        elif isinstance(vb, (str, int)) or vb is None:
            assert va == vb, name
    if ours is MLPClassifier:
        np.testing.assert_array_equal(a.classes_, b.classes_)
        assert a.predict_proba(X).shape == b.predict_proba(X).shape == (80, 2)
    assert a.best_loss_ == (None if early_stopping else min(a.loss_curve_))
    if early_stopping:
        assert a.best_validation_score_ == max(a.validation_scores_)


def test_feature_names_in_from_a_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = MLPClassifier(max_iter=5, random_state=0)
    with pytest.warns(SkConvergenceWarning):
        clf.fit(X, y)
    assert list(clf.feature_names_in_) == list(X.columns)
    assert isinstance(X, pd.DataFrame)


def test_multilabel_predicts_an_indicator_matrix():
    X, _ = make_classification(100, 4, random_state=0)
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(20,), max_iter=400, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 2
    pred = clf.predict(X)
    assert pred.shape == (100, 2) and set(np.unique(pred)) <= {0, 1}
    assert (pred == Y).mean() > 0.9
    assert clf.predict_proba(X).shape == (100, 2)


def test_string_labels_and_probabilities():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    clf = MLPClassifier(hidden_layer_sizes=(), learning_rate_init=0.05, max_iter=300,
                        random_state=1).fit(X, y)
    assert list(clf.classes_) == ["no", "yes"] and clf.out_activation_ == "logistic"
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert (clf.predict(X) == y).mean() > 0.95


# -- partial_fit: one pass per call ----------------------------------------

def test_partial_fit_is_one_epoch_per_call_and_needs_classes():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:50], y[:50], classes=[0, 1, 2])  # one class seen, three known
    assert clf.n_iter_ == 1 and clf.t_ == 50 and len(clf.loss_curve_) == 1
    for _ in range(3):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 1 and clf.t_ == 50 + 3 * 150 and len(clf.loss_curve_) == 4
    assert list(clf.classes_) == [0, 1, 2]
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        clf.partial_fit(X, y + 5)


def test_first_partial_fit_equals_one_epoch_of_fit():
    X, y = load_iris(return_X_y=True)
    a = MLPClassifier(random_state=4).partial_fit(X, y, classes=np.unique(y))
    with pytest.warns(SkConvergenceWarning):
        b = MLPClassifier(random_state=4, max_iter=1).fit(X, y)
    assert _max_diff(a, b) == 0.0


def test_partial_fit_keeps_the_optimizer_state():
    X, y = make_regression(100, 3, random_state=0)
    y = y / y.std()
    reg = MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", random_state=0)
    for _ in range(5):
        reg.partial_fit(X, y)
    back = pickle.loads(pickle.dumps(reg))  # the momentum travels with the pickle
    reg.partial_fit(X, y)
    back.partial_fit(X, y)
    assert _max_diff(reg, back) == 0.0
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]


def test_partial_fit_refuses_early_stopping():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


# -- warnings, verbose output, pickling, plugins ---------------------------

def test_convergence_warning_is_sklearns_and_deltarules():
    X, y = load_iris(return_X_y=True)
    with pytest.warns(SkConvergenceWarning, match="Maximum iterations \\(3\\)") as rec:
        MLPClassifier(max_iter=3).fit(X, y)
    assert any(isinstance(w.message, DeltaRuleWarning) for w in rec)


def test_divergence_warns_and_keeps_finite_parameters():
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    reg = MLPRegressor(solver="sgd", learning_rate_init=10.0, random_state=0)
    with pytest.warns(drs.DivergenceWarning, match="non-finite"):
        reg.fit(X, 1e3 * y)
    assert reg.stop_reason_ == "diverged"
    assert all(np.isfinite(W).all() for W in reg.coefs_)


def test_verbose_prints_sklearns_lines(capsys):
    X, y = load_iris(return_X_y=True)
    MLPClassifier(max_iter=40, tol=10.0, n_iter_no_change=2, verbose=True,
                  random_state=0).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Iteration 1, loss = ")
    assert out[-1] == ("Training loss did not improve more than tol=10.000000 for 2 "
                       "consecutive epochs. Stopping.")
    assert len(out) == 5  # 4 iterations: the count exceeds 2 at the 4th


def test_pickle_keeps_a_working_network():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=300, random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    net = back.network_
    assert all(np.shares_memory(W, net.theta) for W in back.coefs_)


def test_coefs_are_the_live_parameters():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=300, random_state=0).fit(X, y)
    clf.coefs_[-1][...] = 0.0
    clf.intercepts_[-1][...] = [0.0, 0.0, 1.0]
    assert (clf.predict(X) == 2).all()


class _Cube:
    """A plugin's activation, ``f(z) = z³ / 3``."""

    name = "cube"

    def forward(self, z):
        return z ** 3 / 3

    def derivative(self, z, a):
        return z * z


class _CubePlugin:
    @deltarule.hookimpl
    def deltarule_activations(self):
        return [_Cube()]


def test_plugins_supply_activations_and_losses_by_name():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = MLPClassifier(hidden_layer_sizes=(6,), activation="cube", plugins=[_CubePlugin()],
                        loss=("mse", {"reduction": "mean"}), learning_rate_init=0.01,
                        max_iter=300, random_state=0).fit(X, y)
    assert [a.name for a in clf.network_.activations] == ["cube", "softmax"]
    assert clf.score(X, y) > 0.9
    with pytest.raises(deltarule.UnknownComponentError, match="cube"):
        MLPClassifier(activation="cube").fit(X, y)


def test_any_registered_optimizer_as_solver():
    X, y = load_iris(return_X_y=True)
    with pytest.warns(SkConvergenceWarning):
        clf = MLPClassifier(solver="rmsprop", max_iter=20, random_state=0).fit(X, y)
    assert type(clf._optimizer_state).__name__ == "RMSprop"


def test_grid_search_and_pipeline():
    X, y = load_iris(return_X_y=True)
    grid = GridSearchCV(
        make_pipeline(StandardScaler(), MLPClassifier(max_iter=60, random_state=0)),
        {"mlpclassifier__activation": ["tanh", "relu"],
         "mlpclassifier__learning_rate_init": [0.001, 0.01]},
        cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        grid.fit(X, y)
    assert grid.best_params_["mlpclassifier__learning_rate_init"] == 0.01
    assert grid.best_score_ > 0.85


def test_network_saves_as_a_deltarule_model(tmp_path):
    X, y = load_iris(return_X_y=True)
    with pytest.warns(SkConvergenceWarning):
        clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=10, random_state=0).fit(X, y)
    deltarule.save(clf.network_, tmp_path / "iris.npz")
    net = deltarule.load(tmp_path / "iris.npz")
    np.testing.assert_allclose(net.predict(X), clf.predict_proba(X), rtol=1e-12)


# -- side by side: the same scores -----------------------------------------

def _datasets():
    X, y = load_digits(return_X_y=True)
    yield "digits", X / 16.0, y, "classifier", {"max_iter": 60}
    X, y = load_iris(return_X_y=True)
    yield "iris", StandardScaler().fit_transform(X), y, "classifier", {"max_iter": 500}
    X, y = make_moons(1000, noise=0.2, random_state=0)
    yield "moons", X, y, "classifier", {"max_iter": 200}
    X, y = make_friedman1(1000, noise=0.5, random_state=0)
    yield "friedman1", StandardScaler().fit_transform(X), y, "regressor", {"max_iter": 300}


@pytest.mark.slow
@pytest.mark.parametrize("name, X, y, kind, params", list(_datasets()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_scores_side_by_side_with_sklearn(name, X, y, kind, params):
    """Mean test score over three seeds within 2 points of scikit-learn's."""
    ours_cls, their_cls = PAIRS[0] if kind == "classifier" else PAIRS[1]
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.4, random_state=0, stratify=y if kind == "classifier" else None)
    scores = {"ours": [], "theirs": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        for seed in range(3):
            for who, cls in (("ours", ours_cls), ("theirs", their_cls)):
                model = cls(random_state=seed, **params).fit(X_tr, y_tr)
                scores[who].append(model.score(X_te, y_te))
    ours, theirs = np.mean(scores["ours"]), np.mean(scores["theirs"])
    assert abs(ours - theirs) <= 0.02, scores
    assert theirs > 0.7

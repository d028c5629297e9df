"""scikit-learn's MLP, trained by deltarule: a drop-in that takes plugins.

Needs the optional extra: ``pip install 'deltarule[sklearn]'``.

:class:`MLPClassifier` and :class:`MLPRegressor` take the constructor
parameters of :mod:`sklearn.neural_network`'s estimators with the same
meanings and defaults, expose the same fitted attributes, and add
``plugins=`` plus any registered activation, loss or optimizer by name.
docs/sklearn.md lists every parameter and attribute and each difference.

>>> from sklearn.datasets import load_iris
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from deltarule.sklearn import MLPClassifier
>>> X, y = load_iris(return_X_y=True)
>>> model = make_pipeline(StandardScaler(), MLPClassifier(max_iter=300, random_state=0))
>>> model.fit(X, y).score(X, y) > 0.95
True

How scikit-learn's training maps onto deltarule (one :class:`deltarule.Trainer`
run per ``fit``, layers ``[n_features, *hidden_layer_sizes, n_outputs]``):

=====================  ==========================================================
scikit-learn           deltarule
=====================  ==========================================================
``activation``         the hidden layers' activation (``"logistic"`` is ``sigmoid``)
output / loss          softmax + ``cross_entropy`` (several classes), sigmoid +
                       ``binary_cross_entropy`` (two classes, multilabel),
                       identity + ``mse`` (regression), all ``reduction="mean"``
``alpha``              the run option ``l2``: ``½ α Σ‖W‖² / n_batch`` added to
                       each batch's loss (weights only, not the biases)
Glorot init            ``("xavier", {"bias": "same"})``; ``gain=1/√3`` for logistic
``solver="adam"``      ``("adam", {beta1, beta2, eps, "eps_hat": True})``
``solver="sgd"``       ``sgd``; ``momentum`` / ``nesterov`` with ``form="step"``
``learning_rate``,     the stop plugin below sets the optimizer's ``lr`` after each
``tol``,               epoch (``invscaling``: ``lr_init / (t_ + 1) ** power_t``),
``n_iter_no_change``,  counts epochs without improvement by ``tol`` (training
``early_stopping``     loss, or the validation score with ``early_stopping``),
                       divides the rate by 5 (``adaptive``) or stops the run
=====================  ==========================================================
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning as _SkConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state, column_or_1d
    from sklearn.utils.multiclass import type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # pragma: no cover - exercised only without sklearn
    from .errors import MissingDependencyError

    raise MissingDependencyError(
        "deltarule.sklearn needs scikit-learn; install it with "
        "pip install 'deltarule[sklearn]'"
    ) from exc

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn 1.5
    def _validate_data(estimator, X="no_validation", y="no_validation", **kw):
        return estimator._validate_data(X, y, **kw)

from . import errors
from .errors import ConfigError
from .hookspecs import hookimpl
from .trainer import Trainer

__all__ = ["ConvergenceWarning", "DivergenceWarning", "MLPClassifier", "MLPRegressor"]

# every estimator parameter and the deltarule.config run option it sets
# (tests/test_config.py checks the lists); a parameter that sets no run
# option is in ESTIMATOR_ONLY with the reason
PARAM_OPTIONS = {
    "hidden_layer_sizes": "layers",
    "activation": "activation",
    "out_activation": "activation",
    "loss": "loss",
    "solver": "optimizer",
    "learning_rate_init": "lr",
    "momentum": "optimizer_options",
    "nesterovs_momentum": "optimizer",
    "beta_1": "optimizer_options",
    "beta_2": "optimizer_options",
    "epsilon": "optimizer_options",
    "alpha": "l2",
    "max_iter": "max_epochs",
    "batch_size": "batch_size",
    "shuffle": "shuffle",
    "random_state": "seed",
}

ESTIMATOR_ONLY = {
    "learning_rate": "scikit-learn's rate policy: the estimator's stop plugin sets the "
                     "optimizer's lr after each epoch",
    "power_t": "read by that plugin for learning_rate='invscaling'",
    "tol": "the no-improvement threshold of the estimator's stop plugin",
    "n_iter_no_change": "the estimator's stop plugin",
    "early_stopping": "the estimator's stop plugin, on a validation score",
    "validation_fraction": "the estimator holds the rows out itself (stratified), as "
                           "scikit-learn does, and passes validation_data",
    "verbose": "printing, by the estimator's stop plugin",
    "warm_start": "which parameters the run starts from (passed as init)",
    "max_fun": "lbfgs only, which deltarule does not offer",
    "plugins": "registered for the estimator's runs: not a run option",
}


class ConvergenceWarning(_SkConvergenceWarning, errors.ConvergenceWarning):
    """scikit-learn's ``ConvergenceWarning`` that is also a ``DeltaRuleWarning``:
    a filter on either family catches it."""


class DivergenceWarning(_SkConvergenceWarning, errors.DivergenceWarning):
    """The loss became non-finite; the last finite parameters were kept."""


_ACTIVATIONS = {"logistic": "sigmoid"}   # scikit-learn's names that differ
_OUT_NAMES = {"sigmoid": "logistic"}     # and back, for ``out_activation_``
_STOCHASTIC = ("sgd", "adam")


def _name_of(spec):
    """The component name in a name, a ``(name, options)`` pair or an object."""
    if isinstance(spec, str):
        return spec
    if is_pair(spec):
        return spec[0]
    return getattr(spec, "name", None)


def _component(spec, table=None):
    """scikit-learn's spelling of a component, or the spec unchanged."""
    if isinstance(spec, str) and table:
        return table.get(spec, spec)
    return spec


# -- parameter checks (scikit-learn validates in fit, never in __init__) ----

def _real(est, name, lo=None, hi=None, *, lo_open=False, hi_open=False):
    value = getattr(est, name)
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and not math.isnan(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        lo_b = "(" if lo_open else "["
        hi_b = ")" if hi_open else "]"
        rng = f"{lo_b}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{hi_b}"
        raise ConfigError(f"{name} must be a number in {rng}, got {value!r}")
    return float(value)


def _int(est, name, lo=1, allow_inf=False):
    value = getattr(est, name)
    if allow_inf and isinstance(value, numbers.Real) and value == math.inf:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        extra = " or numpy.inf" if allow_inf else ""
        raise ConfigError(f"{name} must be an int ≥ {lo}{extra}, got {value!r}")
    return int(value)


def _bool(est, name):
    value = getattr(est, name)
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _sample_weight(sample_weight, n: int, dtype) -> np.ndarray:
    """``(n,)`` float weights (scikit-learn's rules: a scalar is every row's)."""
    w = np.asarray(sample_weight)
    if w.ndim == 0:
        w = np.full(n, float(w))
    try:
        w = np.asarray(w, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"sample_weight must hold numbers, got {sample_weight!r}") from None
    if w.shape != (n,):
        raise ValueError(f"sample_weight.shape == {w.shape}, expected ({n},)!")
    if not np.isfinite(w).all():
        raise ValueError("sample_weight must be finite")
    return w


def _binarize(binarizer, y, dtype) -> np.ndarray:
    """``binarizer.transform(y)`` as ``dtype``: one column ``[y = classes_[1]]``
    for two classes, one-hot rows for more.  Single-label targets are encoded
    here by a sorted search (40× faster than the transform, which re-checks
    the target type); anything else, or a label outside ``classes_``, goes
    through the transform itself, which also words the error."""
    classes = binarizer.classes_
    if binarizer.y_type_ in ("binary", "multiclass") and np.ndim(y) == 1 and len(classes) > 1:
        try:
            index = np.searchsorted(classes, y)
            known = bool(np.all(classes[np.minimum(index, len(classes) - 1)] == y))
        except (TypeError, ValueError):
            known = False
        if known:
            if len(classes) == 2:
                return (index == 1).astype(dtype).reshape(-1, 1)
            Y = np.zeros((len(index), len(classes)), dtype=dtype)
            Y[np.arange(len(index)), index] = 1
            return Y
    return binarizer.transform(y).astype(dtype)


def _hidden_sizes(value) -> list[int]:
    sizes = [value] if isinstance(value, numbers.Integral) else value
    try:
        sizes = list(sizes)
    except TypeError:
        sizes = None
    if isinstance(value, str) or sizes is None or any(
        isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes
    ):
        raise ConfigError(
            f"hidden_layer_sizes must be a positive int or a sequence of positive ints "
            f"such as (100,) or (64, 32), got {value!r}"
        )
    return [int(s) for s in sizes]


class _SklearnSchedule:
    """A deltarule plugin: scikit-learn's stopping rule and learning-rate policy.

    Registered for one run.  After every epoch (``deltarule_stop``) it does
    what ``BaseMultilayerPerceptron._fit_stochastic`` does after an
    iteration, in the same order: records ``loss_`` and ``loss_curve_``,
    prints the verbose lines, counts epochs without improvement by ``tol``
    (on the training loss, or on the validation score with
    ``early_stopping``, keeping the best parameters), updates ``t_`` and the
    ``invscaling`` rate, and when the count exceeds ``n_iter_no_change``
    either divides the rate by 5 (``adaptive``) or stops the run with the
    reason ``"n_iter_no_change"``.  The bookkeeping lives on the estimator,
    so ``warm_start`` and ``partial_fit`` continue it, as scikit-learn does.
    """

    name = "sklearn_mlp"

    def __init__(self, est, trainer, n_samples, validation):
        self.est = est
        self.trainer = trainer
        self.n_samples = n_samples
        self.validation = validation  # (X_val, y_val, sample_weight_val) or None

    @hookimpl
    def deltarule_stop(self, state):
        est = self.est
        est.n_iter_ += 1
        est.loss_ = state.loss
        est.t_ += self.n_samples
        est.loss_curve_.append(state.loss)
        if est.verbose:
            print("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))
        if self.validation is not None:
            X_val, y_val, sw_val = self.validation
            score = est._score_network(state, X_val, y_val, sw_val)
            est.validation_scores_.append(score)
            if est.verbose:
                print("Validation score: %f" % score)
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_params = [(np.array(W), np.array(b)) for W, b in state.params]
        else:
            if state.loss > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if state.loss < est.best_loss_:
                est.best_loss_ = state.loss
        opt = self.trainer.optimizer
        schedule = est._lr_schedule()
        if schedule == "invscaling":
            opt.lr = est.learning_rate_init / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.validation is not None else "Training loss"
            msg = (f"{what} did not improve more than tol={est.tol:f} for "
                   f"{est.n_iter_no_change} consecutive epochs.")
            if schedule != "adaptive":
                if est.verbose:
                    print(msg + " Stopping.")
                return "n_iter_no_change"
            if opt.lr <= 1e-6:
                if est.verbose:
                    print(msg + " Learning rate too small. Stopping.")
                return "n_iter_no_change"
            opt.lr /= 5.0
            if est.verbose:
                print(msg + " Setting learning rate to %f" % opt.lr)
            est._no_improvement_count = 0
        return None


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters and the run."""

    _default_loss = "squared_error"

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, loss=None, out_activation=None,
                 plugins=()):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.loss = loss
        self.out_activation = out_activation
        self.plugins = plugins

    # -- parameters ------------------------------------------------------
    def _check_params(self):
        """Every parameter's type and range, before any training (ConfigError)."""
        self._hidden = _hidden_sizes(self.hidden_layer_sizes)
        if self.solver == "lbfgs":
            raise ConfigError(
                "solver='lbfgs' is not available in deltarule.sklearn: deltarule trains by "
                "back-propagation with a stochastic optimizer; use solver='adam' (the "
                "default) or 'sgd', or sklearn.neural_network for L-BFGS"
            )
        if not (isinstance(self.solver, str) or _name_of(self.solver)):
            raise ConfigError(
                f"solver must be 'adam', 'sgd' or the name of a registered optimizer, "
                f"got {self.solver!r}"
            )
        _real(self, "alpha", 0)
        bs = self.batch_size
        if not (isinstance(bs, str) and bs == "auto"):
            _int(self, "batch_size", 1)
        if self.learning_rate not in ("constant", "invscaling", "adaptive"):
            raise ConfigError(
                "learning_rate must be 'constant', 'invscaling' or 'adaptive', got "
                f"{self.learning_rate!r}"
            )
        _real(self, "learning_rate_init", 0, lo_open=True)
        _real(self, "power_t", 0)
        _int(self, "max_iter", 1)
        _bool(self, "shuffle")
        _real(self, "tol", 0)
        if isinstance(self.verbose, bool) or not isinstance(self.verbose, numbers.Integral):
            if not isinstance(self.verbose, (bool, np.bool_)):
                raise ConfigError(f"verbose must be a bool or an int, got {self.verbose!r}")
        _bool(self, "warm_start")
        _real(self, "momentum", 0, 1)
        _bool(self, "nesterovs_momentum")
        _bool(self, "early_stopping")
        _real(self, "validation_fraction", 0, 1, hi_open=True)
        _real(self, "beta_1", 0, 1, hi_open=True)
        _real(self, "beta_2", 0, 1, hi_open=True)
        _real(self, "epsilon", 0, lo_open=True)
        _int(self, "n_iter_no_change", 1, allow_inf=True)
        _int(self, "max_fun", 1)
        if self.early_stopping and not 0 < self.validation_fraction < 1:
            raise ConfigError(
                "early_stopping=True holds out validation_fraction of the rows; it must "
                f"be strictly between 0 and 1, got {self.validation_fraction!r}"
            )

    def _lr_schedule(self):
        """scikit-learn applies ``learning_rate`` to ``solver="sgd"`` only."""
        return self.learning_rate if self.solver == "sgd" else "constant"

    def _optimizer(self):
        """The deltarule optimizer (a ``(name, options)`` pair) for ``solver``."""
        if self.solver == "adam":
            return ("adam", {"beta1": float(self.beta_1), "beta2": float(self.beta_2),
                             "eps": float(self.epsilon), "eps_hat": True})
        if self.solver == "sgd":
            if self.momentum == 0:
                return ("sgd", {})
            kind = "nesterov" if self.nesterovs_momentum else "momentum"
            return (kind, {"momentum": float(self.momentum), "form": "step"})
        return self.solver  # any registered optimizer, its own defaults

    def _init(self):
        """scikit-learn's Glorot-uniform weights and biases."""
        gain = 1.0 / math.sqrt(3.0) if _name_of(self.activation) == "logistic" else 1.0
        return ("xavier", {"gain": gain, "bias": "same"})

    def _batch(self, n_samples):
        if isinstance(self.batch_size, str):
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to "
                "be clipped", stacklevel=4,
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    # -- training --------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, *, incremental=False):
        self._check_params()
        first_pass = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _sample_weight(sample_weight, X.shape[0], X.dtype)
        self.n_outputs_ = Y.shape[1]
        layers = [X.shape[1], *self._hidden, self.n_outputs_]
        try:
            rs = check_random_state(self.random_state)
        except ValueError:
            raise ConfigError(
                "random_state must be None, an int or a numpy.random.RandomState, got "
                f"{self.random_state!r}"
            ) from None
        if first_pass:
            self._initialize(layers)
        elif list(self.network_.layers) != layers:
            raise ValueError(
                f"the data needs layers {layers} but the fitted network has "
                f"{list(self.network_.layers)}; fit afresh (warm_start=False)"
            )
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation = None
        X_train, Y_train, sw_train = X, Y, sample_weight
        val_data = None
        if self.early_stopping:
            stratify = Y if self._stratify() else None
            parts = train_test_split(
                X, Y, *([] if sample_weight is None else [sample_weight]),
                random_state=rs, test_size=self.validation_fraction, stratify=stratify,
            )
            X_train, X_val, Y_train, Y_val = parts[:4]
            sw_train, sw_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or "
                    "the size of your dataset."
                )
            validation = (X_val, self._decode(Y_val), sw_val)
            val_data = (X_val, Y_val)
        n_train = X_train.shape[0]
        # drawn after the split, so a warm start splits as scikit-learn does
        seed = int(rs.randint(np.iinfo(np.int32).max))
        trainer = Trainer(
            layers,
            activation=[_component(self.activation, _ACTIVATIONS)] * len(self._hidden)
            + [self._out_spec],
            loss=self._loss_spec,
            optimizer=self._optimizer(),
            lr=float(self.learning_rate_init),
            init=self._init() if first_pass else self.network_.params,
            max_epochs=1 if incremental else int(self.max_iter),
            batch_size=self._batch(n_train),
            shuffle=bool(self.shuffle),
            dtype=X.dtype.name,
            seed=seed,
            l2=float(self.alpha),
            plugins=list(self.plugins or ()),
        )
        schedule = _SklearnSchedule(self, trainer, n_train, validation)
        trainer.registry.register(schedule, origin="deltarule.sklearn")
        if incremental and getattr(self, "_optimizer_state", None) is not None:
            trainer.network = self.network_
            trainer.optimizer = self._optimizer_state
            run = trainer.partial_fit
        else:
            run = trainer.fit
        self.n_iter_ = 0
        try:
            with warnings.catch_warnings():
                # this estimator words its own (scikit-learn's) warnings below
                warnings.filterwarnings("ignore", category=errors.ConvergenceWarning)
                warnings.filterwarnings("ignore", category=errors.DivergenceWarning)
                result = run(X_train, Y_train, validation_data=val_data,
                             sample_weight=sw_train)
        except KeyboardInterrupt:
            # as scikit-learn: keep what was reached, and say so
            warnings.warn("Training interrupted by user.", stacklevel=3)
            result = trainer.result
        self.network_ = trainer.network
        self._optimizer_state = trainer.optimizer
        self.stop_reason_ = result.stop_reason
        if self.early_stopping and hasattr(self, "_best_params"):
            self.network_.set_params(self._best_params)  # as scikit-learn: the best seen
        if result.stop_reason == "diverged":
            warnings.warn(
                f"{type(self).__name__}: the loss became non-finite at epoch "
                f"{result.epochs} (lower learning_rate_init or scale the inputs); the "
                "last finite parameters were kept",
                DivergenceWarning, stacklevel=3,
            )
        elif not incremental and self.n_iter_ == self.max_iter:
            warnings.warn(
                "Stochastic Optimizer: Maximum iterations (%d) reached and the "
                "optimization hasn't converged yet." % self.max_iter,
                ConvergenceWarning, stacklevel=3,
            )
        return self

    def _initialize(self, layers):
        """Fresh parameters and bookkeeping (scikit-learn's ``_initialize``)."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_layers_ = len(layers)
        self._out_spec, self._loss_spec, self.out_activation_ = self._output()
        self._optimizer_state = None
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if hasattr(self, "_best_params"):
            del self._best_params
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    # -- fitted parameters as scikit-learn names them ----------------------
    @property
    def coefs_(self):
        """``[W_1, …, W_L]``, each ``(n_{l-1}, n_l)``: views of the network's weights."""
        check_is_fitted(self, "network_")
        return list(self.network_.weights)

    @property
    def intercepts_(self):
        """``[b_1, …, b_L]``, each ``(n_l,)``: views of the network's biases."""
        check_is_fitted(self, "network_")
        return list(self.network_.biases)

    def _forward(self, X):
        check_is_fitted(self, "network_")
        X = _validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.network_.forward(X.astype(self.network_.dtype, copy=False))

    def _score_network(self, state, X, y, sample_weight):
        """``score`` of the live network inside a run (for early stopping)."""
        y_pred = self._decode_outputs(state.predict(X))
        if np.issubdtype(np.asarray(y_pred).dtype, np.floating) \
                and not np.isfinite(y_pred).all():
            return np.nan
        return self._score_function(y, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """scikit-learn's ``MLPClassifier``, trained by deltarule.

    Parameters and fitted attributes as :class:`sklearn.neural_network.MLPClassifier`
    (``solver`` ``"adam"`` or ``"sgd"``; ``"lbfgs"`` is refused), plus:

    loss : ``None`` (default: log-loss) or a registered loss
        ``None`` trains softmax + ``cross_entropy`` for several classes and
        sigmoid + ``binary_cross_entropy`` for two classes or multilabel
        targets, both averaged over the batch.  Any other name, ``(name,
        {options})`` pair or loss object trains the same outputs with it.
    out_activation : ``None`` (default: as scikit-learn) or a registered activation
    plugins : plugins for this estimator (objects, modules or ``"module:attr"``)
        Their activations, losses and optimizers can then be named in
        ``activation``, ``loss``, ``out_activation`` and ``solver``.
    activation : also any registered activation name, ``(name, {options})`` or object
    solver : also any registered optimizer name (its own defaults, ``lr =
        learning_rate_init``)

    Extra fitted attributes: ``network_`` (the :class:`deltarule.Network`;
    ``deltarule.save(clf.network_, path)`` writes a model file with the
    classes) and ``stop_reason_``.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, loss=None, out_activation=None,
                 plugins=()):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            loss=loss, out_activation=out_activation, plugins=plugins,
        )

    def _validate_input(self, X, y, incremental, reset):
        X, y = _validate_data(self, X, y, multi_output=True,
                              dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` "
                        f"has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        if len(self.classes_) < 2 and self._label_binarizer.y_type_ != "multilabel-indicator":
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes to learn from; "
                f"y holds only {len(self.classes_)} class ({self.classes_[0]!r})"
            )
        return X, _binarize(self._label_binarizer, y, X.dtype)

    def _stratify(self):
        # as scikit-learn: stratified on the labels when there is one output unit
        return self.n_outputs_ == 1

    def _decode(self, Y):
        return self._label_binarizer.inverse_transform(Y)

    def _decode_outputs(self, y_hat):
        if self.n_outputs_ == 1:
            y_hat = y_hat.ravel()
        return self._label_binarizer.inverse_transform(y_hat)

    @staticmethod
    def _score_function(y, y_pred, sample_weight=None):
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def _output(self):
        """``(output activation, loss, out_activation_)`` for the targets."""
        multiclass = self._label_binarizer.y_type_ == "multiclass"
        default = "softmax" if multiclass else "sigmoid"
        out = default if self.out_activation is None else \
            _component(self.out_activation, _ACTIVATIONS)
        if self.loss is None or self.loss == "log_loss":
            loss = ("cross_entropy" if multiclass else "binary_cross_entropy",
                    {"reduction": "mean"})
        else:
            loss = self.loss
        name = _name_of(out)
        return out, loss, _OUT_NAMES.get(name, name)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to ``X`` ``(n_samples, n_features)`` and labels ``y``
        (``(n_samples,)``, or an indicator matrix ``(n_samples, n_labels)``)."""
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``X``, ``y`` from the current parameters.

        ``classes`` (every label that will ever be seen) is required on the
        first call, as in scikit-learn.
        """
        if self._first_partial_fit(classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def _first_partial_fit(self, classes) -> bool:
        """scikit-learn's rule: ``classes`` is required on the first call and,
        when given later, must not change."""
        if getattr(self, "classes_", None) is None and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None:
            classes = unique_labels(classes)
            if getattr(self, "classes_", None) is not None:
                if not np.array_equal(self.classes_, classes):
                    raise ValueError(
                        f"`classes={classes!r}` is not the same as on last call to "
                        f"partial_fit, was: {self.classes_!r}"
                    )
                return False
            self.classes_ = classes
            return True
        return False

    def predict(self, X):
        """The predicted classes, ``(n_samples,)`` (or an indicator matrix)."""
        return self._decode_outputs(self._forward(X))

    def predict_proba(self, X):
        """Class probabilities ``(n_samples, n_classes)``, ordered as ``classes_``."""
        y_hat = self._forward(X)
        if self.n_outputs_ == 1:
            p = y_hat.ravel()
            return np.vstack([1 - p, p]).T
        return y_hat

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """scikit-learn's ``MLPRegressor``, trained by deltarule.

    Parameters and fitted attributes as :class:`sklearn.neural_network.MLPRegressor`
    (``solver`` ``"adam"`` or ``"sgd"``), and as :class:`MLPClassifier` for the
    additions.  ``loss``: ``"squared_error"`` (default, half the mean squared
    error) or any registered loss; ``"poisson"`` needs a plugin providing a
    loss of that name.
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu",
                 *, solver="adam", alpha=0.0001, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, out_activation=None,
                 plugins=()):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            loss=loss, out_activation=out_activation, plugins=plugins,
        )

    def _validate_input(self, X, y, incremental, reset):
        X, y = _validate_data(self, X, y, multi_output=True, y_numeric=True,
                              dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        self._y_1d = y.ndim == 1
        return X, np.asarray(y, dtype=X.dtype).reshape(len(y), -1)

    def _stratify(self):
        return False

    def _decode(self, Y):
        return Y[:, 0] if Y.shape[1] == 1 else Y

    def _decode_outputs(self, y_hat):
        return y_hat.ravel() if y_hat.shape[1] == 1 else y_hat

    @staticmethod
    def _score_function(y, y_pred, sample_weight=None):
        return r2_score(y, y_pred, sample_weight=sample_weight)

    def _output(self):
        out = "identity" if self.out_activation is None else \
            _component(self.out_activation, _ACTIVATIONS)
        if self.loss == "squared_error":
            loss = ("mse", {"reduction": "mean"})
        elif self.loss is None:
            raise ConfigError("loss must be 'squared_error' or a registered loss, got None")
        else:
            loss = self.loss
        name = _name_of(out)
        return out, loss, _OUT_NAMES.get(name, name)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to ``X`` ``(n_samples, n_features)`` and targets ``y``
        (``(n_samples,)`` or ``(n_samples, n_outputs)``)."""
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X``, ``y`` from the current parameters."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predicted targets, ``(n_samples,)`` or ``(n_samples, n_outputs)``."""
        return self._decode_outputs(self._forward(X))

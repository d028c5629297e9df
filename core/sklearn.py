"""scikit-learn estimators: deltarule networks in pipelines and grid searches.

Needs the optional extra: ``pip install 'deltarule[sklearn]'``.

>>> from sklearn.datasets import load_iris
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from deltarule.sklearn import DeltaRuleClassifier
>>> X, y = load_iris(return_X_y=True)
>>> model = make_pipeline(StandardScaler(), DeltaRuleClassifier(random_state=0)).fit(X, y)
>>> model.score(X, y) > 0.9
True

Both estimators train one :class:`deltarule.Trainer` run per ``fit`` with
layers ``[n_features, *hidden_layer_sizes, n_outputs]``; every component
option takes what ``deltarule.train`` takes (a name, a ``(name, {options})``
pair or a component object).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # pragma: no cover - exercised only without sklearn
    raise ImportError(
        "deltarule.sklearn needs scikit-learn; install it with "
        "pip install 'deltarule[sklearn]'"
    ) from exc

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn 1.5
    def _validate_data(estimator, X="no_validation", y="no_validation", **kw):
        return estimator._validate_data(X, y, **kw)

from .catalogue import is_pair
from .errors import ConfigError
from .trainer import Trainer

__all__ = ["DeltaRuleClassifier", "DeltaRuleRegressor"]

# every estimator parameter and the deltarule.config run option it sets (the
# defaults differ: they follow scikit-learn's MLPClassifier); a parameter that
# sets no run option goes in ESTIMATOR_ONLY with the reason
# (tests/test_config.py checks both)
PARAM_OPTIONS = {
    "hidden_layer_sizes": "layers",
    "activation": "activation",
    "output_activation": "activation",
    "loss": "loss",
    "optimizer": "optimizer",
    "lr": "lr",
    "optimizer_options": "optimizer_options",
    "init": "init",
    "max_epochs": "max_epochs",
    "batch_size": "batch_size",
    "shuffle": "shuffle",
    "patience": "patience",
    "min_delta": "min_delta",
    "validation_fraction": "validation_split",
    "dtype": "dtype",
    "random_state": "seed",
}

ESTIMATOR_ONLY: dict[str, str] = {}

_RELU_LIKE = ("relu", "leaky_relu")
_DTYPES = [np.float64, np.float32]


def _name_of(spec) -> str | None:
    """The component name in a name, a ``(name, options)`` pair or an object."""
    if isinstance(spec, str):
        return spec
    if is_pair(spec):
        return spec[0]
    return getattr(spec, "name", None)


def _hidden_sizes(value) -> list[int]:
    sizes = [value] if isinstance(value, numbers.Integral) else value
    try:
        sizes = list(sizes)
    except TypeError:
        sizes = None
    if sizes is None or any(
        isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes
    ):
        raise ConfigError(
            f"hidden_layer_sizes must be a positive int or a tuple of positive ints "
            f"such as (100,) or (64, 32), got {value!r}"
        )
    return [int(s) for s in sizes]


def _seed(random_state):
    """An int, ``None`` or a Generator for deltarule from sklearn's random_state."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        # draw the seed from it, so repeated fits advance it as sklearn expects
        return int(random_state.randint(np.iinfo(np.int32).max))
    raise ConfigError(
        f"random_state must be None, an int, a numpy RandomState or Generator, "
        f"got {random_state!r}"
    )


class _DeltaRuleEstimator(BaseEstimator):
    """Parameters and the training run shared by both estimators."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *,
                 output_activation="auto", loss="auto", optimizer="adam", lr=0.001,
                 optimizer_options=None, init="auto", max_epochs=200, batch_size="auto",
                 shuffle=True, patience=None, min_delta=0.0, validation_fraction=None,
                 dtype="float64", random_state=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.optimizer_options = optimizer_options
        self.init = init
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.patience = patience
        self.min_delta = min_delta
        self.validation_fraction = validation_fraction
        self.dtype = dtype
        self.random_state = random_state

    # -- training --------------------------------------------------------
    def _batch_size(self, n_samples):
        if isinstance(self.batch_size, str):
            if self.batch_size != "auto":
                raise ConfigError(
                    f"batch_size must be 'auto', None (full batch) or a positive int, "
                    f"got {self.batch_size!r}"
                )
            return min(200, n_samples)
        return self.batch_size

    def _init_name(self):
        if isinstance(self.init, str) and self.init == "auto":
            return "he" if _name_of(self.activation) in _RELU_LIKE else "xavier"
        return self.init

    def _train(self, X, Y, output_activation, loss):
        hidden = _hidden_sizes(self.hidden_layer_sizes)
        layers = [X.shape[1], *hidden, Y.shape[1]]
        trainer = Trainer(
            layers,
            activation=[self.activation] * len(hidden) + [output_activation],
            loss=loss,
            optimizer=self.optimizer,
            lr=self.lr,
            optimizer_options=self.optimizer_options,
            init=self._init_name(),
            max_epochs=self.max_epochs,
            batch_size=self._batch_size(len(X)),
            shuffle=self.shuffle,
            patience=self.patience,
            min_delta=self.min_delta,
            validation_split=self.validation_fraction,
            dtype=self.dtype,
            seed=_seed(self.random_state),
        )
        result = trainer.fit(X, Y)
        self.network_ = result.network
        self.loss_curve_ = list(result.history)
        self.validation_loss_curve_ = list(result.val_history)
        self.n_iter_ = result.epochs
        self.stop_reason_ = result.stop_reason
        if result.stop_reason == "diverged":
            warnings.warn(
                f"{type(self).__name__}: training diverged (non-finite loss at epoch "
                f"{result.epochs}); the last finite parameters were kept. Lower lr, "
                "scale the inputs and targets, or pick a more stable optimizer",
                ConvergenceWarning, stacklevel=3,
            )
        return self

    def _forward(self, X):
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, dtype=_DTYPES)
        return self.network_.predict(X)


class DeltaRuleClassifier(ClassifierMixin, _DeltaRuleEstimator):
    """A multi-layer perceptron classifier trained by deltarule.

    Parameters (defaults follow scikit-learn's ``MLPClassifier``):

    hidden_layer_sizes : int or tuple of int, default ``(100,)``
        Widths of the hidden layers; ``()`` is logistic regression.
    activation : default ``"relu"``
        The hidden layers' activation (name, ``(name, options)`` or object).
    output_activation : default ``"auto"``
        ``"auto"``: ``sigmoid`` (one unit) for two classes with the automatic
        loss, ``softmax`` for ``cross_entropy``, ``sigmoid`` otherwise.
    loss : default ``"auto"``
        ``"auto"``: ``binary_cross_entropy`` on one sigmoid unit for two
        classes, ``cross_entropy`` on a softmax over one unit per class
        otherwise (both with reduction ``"mean"``).  Any other loss trains
        one output unit per class on one-hot targets.
    optimizer : default ``"adam"``;  lr : default ``0.001``;
    optimizer_options : dict or None
        The optimizer and its hyper-parameters (``weight_decay``,
        ``schedule``, ``beta1`` …).
    init : default ``"auto"``
        ``"he"`` for relu-like hidden layers, ``"xavier"`` otherwise.
    max_epochs : default 200;  batch_size : default ``"auto"``
        ``"auto"`` is ``min(200, n_samples)``; ``None`` is full batch.
    shuffle : default True;  patience, min_delta, validation_fraction
        Early stopping (on the validation loss when ``validation_fraction``
        holds some samples out, else on the training loss).
    dtype : ``"float64"`` (default) or ``"float32"``
    random_state : None, int, RandomState or Generator
        Seeds initialisation, shuffling and the validation split.

    Attributes: ``classes_``, ``n_features_in_``, ``network_`` (the trained
    :class:`deltarule.Network`; ``deltarule.save(est.network_, path)``
    writes it), ``loss_curve_``, ``validation_loss_curve_``, ``n_iter_``
    (epochs run), ``stop_reason_``.
    """

    def fit(self, X, y):
        """Train on ``X`` ``(n_samples, n_features)`` and labels ``y`` ``(n_samples,)``."""
        X, y = _validate_data(self, X, y, dtype=_DTYPES)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes to learn "
                f"from; y holds only 1 class ({self.classes_[0]!r})"
            )
        loss, out_act = self.loss, self.output_activation
        if isinstance(loss, str) and loss == "auto":
            if n_classes == 2:
                loss, auto_out = "binary_cross_entropy", "sigmoid"
            else:
                loss, auto_out = "cross_entropy", "softmax"
        else:
            auto_out = "softmax" if _name_of(loss) == "cross_entropy" else "sigmoid"
        if isinstance(out_act, str) and out_act == "auto":
            out_act = auto_out
        single = n_classes == 2 and _name_of(loss) == "binary_cross_entropy" \
            and _name_of(out_act) != "softmax"
        if single:
            Y = codes.reshape(-1, 1).astype(np.float64)
        else:
            Y = np.zeros((len(codes), n_classes))
            Y[np.arange(len(codes)), codes] = 1.0
        self._single_output = single
        return self._train(X, Y, out_act, loss)

    def predict_proba(self, X):
        """Class probabilities, ``(n_samples, n_classes)``, rows summing to 1.

        Outputs that are not already distributions (e.g. sigmoid units
        trained with ``mse``) are clipped at 0 and normalised per row.
        """
        out = np.asarray(self._forward(X), dtype=np.float64)
        if self._single_output:
            p = np.clip(out[:, 0], 0.0, 1.0)
            return np.column_stack([1.0 - p, p])
        out = np.clip(out, 0.0, None)
        total = out.sum(axis=1, keepdims=True)
        empty = total[:, 0] <= 0
        out[empty] = 1.0
        total[empty] = out.shape[1]
        return out / total

    def predict(self, X):
        """The most probable class of every row of ``X``: ``(n_samples,)``."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class DeltaRuleRegressor(RegressorMixin, _DeltaRuleEstimator):
    """A multi-layer perceptron regressor trained by deltarule.

    Parameters as :class:`DeltaRuleClassifier`, except:

    output_activation : default ``"auto"``, meaning ``"identity"``.
    loss : default ``"auto"``, meaning ``("mse", {"reduction": "mean"})``:
        half the mean over samples of the squared error summed over outputs.

    ``y`` may be ``(n_samples,)`` (``predict`` then returns that shape) or
    ``(n_samples, n_outputs)``.  Attributes: ``n_outputs_``, plus those of
    the classifier except ``classes_``.
    """

    def fit(self, X, y):
        """Train on ``X`` ``(n_samples, n_features)`` and targets ``y``."""
        X, y = _validate_data(self, X, y, dtype=_DTYPES, multi_output=True,
                              y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        self._single_output = y.ndim == 1
        Y = y.reshape(len(y), -1)
        self.n_outputs_ = Y.shape[1]
        loss = self.loss
        if isinstance(loss, str) and loss == "auto":
            loss = ("mse", {"reduction": "mean"})
        out_act = self.output_activation
        if isinstance(out_act, str) and out_act == "auto":
            out_act = "identity"
        return self._train(X, Y, out_act, loss)

    def predict(self, X):
        """Predicted targets: ``(n_samples,)`` or ``(n_samples, n_outputs)``."""
        out = self._forward(X)
        return out[:, 0] if self._single_output else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):  # pragma: no cover - scikit-learn < 1.6
        return {"multioutput": True}

"""deltarule: back-propagation in NumPy as a chain of pluggy hooks.

>>> import numpy as np, deltarule
>>> X = np.array([[0, 1], [1, 0], [1, 1], [0, 0]]); y = np.array([[1], [1], [0], [0]])
>>> result = deltarule.train(X, y, layers=[2, 3, 1], lr=0.5, seed=1)
>>> result.stop_reason
'max_epochs'
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

from .errors import (
    ComponentClashError,
    ComponentError,
    ConfigError,
    DataError,
    DataTypeError,
    DeltaRuleError,
    ExportError,
    MissingDependencyError,
    ModelFileError,
    PluginError,
    UnknownComponentError,
)
from .export import to_onnx
from .hookspecs import hookimpl, hookspec
from .manager import Catalogue, Registry, load_object, make_plugin_manager
from .model_io import load, save
from .network import Network
from .training import State, Trainer, TrainResult, train

try:
    __version__ = _version("deltarule")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "Catalogue",
    "ComponentClashError",
    "ComponentError",
    "ConfigError",
    "DataError",
    "DataTypeError",
    "DeltaRuleError",
    "ExportError",
    "MissingDependencyError",
    "ModelFileError",
    "Network",
    "PluginError",
    "Registry",
    "State",
    "TrainResult",
    "Trainer",
    "UnknownComponentError",
    "hookimpl",
    "hookspec",
    "load",
    "load_object",
    "make_plugin_manager",
    "save",
    "to_onnx",
    "train",
    "__version__",
]

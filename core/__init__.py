"""deltarule: back-propagation in NumPy as a chain of pluggy hooks.

>>> import numpy as np, deltarule
>>> X = np.array([[0, 1], [1, 0], [1, 1], [0, 0]]); y = np.array([[1], [1], [0], [0]])
>>> result = deltarule.train(X, y, layers=[2, 3, 1], lr=0.5, seed=1)
>>> result.stop_reason
'max_epochs'
"""

from __future__ import annotations

from .errors import (
    ClassTargetWarning,
    ComponentClashError,
    ComponentError,
    ConfigError,
    ConvergenceWarning,
    DataError,
    DataTypeError,
    DeltaRuleError,
    DeltaRuleWarning,
    DivergenceWarning,
    ExportError,
    KernelWarning,
    MissingDependencyError,
    ModelFileError,
    PluginError,
    PluginShadowWarning,
    SaturationWarning,
    UnknownComponentError,
    UnknownOptionError,
)
from .catalogue import Catalogue
from .config import Option
from .export import to_onnx
from .hookspecs import hookimpl, hookspec
from .io.model import load, save
from .loop import State
from .network import Network
from .registry import Registry, load_object, make_plugin_manager, make_registry
from .trainer import Trainer, TrainResult, train
from .many import ManyResult, train_many
from .version import __version__

__all__ = [
    "Catalogue",
    "ClassTargetWarning",
    "ComponentClashError",
    "ComponentError",
    "ConfigError",
    "ConvergenceWarning",
    "DataError",
    "DataTypeError",
    "DeltaRuleError",
    "DeltaRuleWarning",
    "DivergenceWarning",
    "ExportError",
    "KernelWarning",
    "MissingDependencyError",
    "ManyResult",
    "ModelFileError",
    "Network",
    "Option",
    "PluginError",
    "PluginShadowWarning",
    "Registry",
    "SaturationWarning",
    "State",
    "TrainResult",
    "Trainer",
    "UnknownComponentError",
    "UnknownOptionError",
    "hookimpl",
    "hookspec",
    "load",
    "load_object",
    "make_plugin_manager",
    "make_registry",
    "save",
    "to_onnx",
    "train",
    "train_many",
    "__version__",
]

"""Module paths of rnnkit 0.1 (the flat layout), importable for one more release.

``import rnnkit.models`` or ``from rnnkit.trainer import Trainer`` still work: the old path
resolves to the module that now holds the code (the same module object, so classes are
identical) with a DeprecationWarning that names the new path. Only the package root
installs this finder; nothing inside rnnkit imports an old path.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {  # old path -> new path
    "rnnkit.activations": "rnnkit.core.activations",
    "rnnkit.cells": "rnnkit.core.cells",
    "rnnkit.cells.rnn_cell": "rnnkit.core.cells.rnn",
    "rnnkit.cells.lstm_cell": "rnnkit.core.cells.lstm",
    "rnnkit.cells.gru_cell": "rnnkit.core.cells.gru",
    "rnnkit.init": "rnnkit.core.init",
    "rnnkit.scan": "rnnkit.core.scan",
    "rnnkit.kernels": "rnnkit.core.kernels",
    "rnnkit.backends": "rnnkit.core.backends",
    "rnnkit.recurrent": "rnnkit.core.stack",
    "rnnkit.module": "rnnkit.nn.module",
    "rnnkit.layers": "rnnkit.nn.recurrent",
    "rnnkit.models": "rnnkit.nn.models",
    "rnnkit.losses": "rnnkit.nn.losses",
    "rnnkit.attention": "rnnkit.nn.attention",
    "rnnkit.seq2seq": "rnnkit.nn.seq2seq",
    "rnnkit.decoding": "rnnkit.nn.decoding",
    "rnnkit.sampling": "rnnkit.nn.sampling",
    "rnnkit.trainer": "rnnkit.train.trainer",
    "rnnkit.callbacks": "rnnkit.train.callbacks",
    "rnnkit.optim": "rnnkit.train.optim",
    "rnnkit.schedules": "rnnkit.train.schedules",
    "rnnkit.batches": "rnnkit.train.batches",
    "rnnkit.fileio": "rnnkit.io.files",
    "rnnkit.checkpoint": "rnnkit.io.checkpoint",
    "rnnkit.datasets": "rnnkit.data.datasets",
    "rnnkit.tsfile": "rnnkit.data.tsfile",
    "rnnkit.text": "rnnkit.data.text",
    "rnnkit.dates": "rnnkit.data.dates",
    "rnnkit.timeseries": "rnnkit.data.timeseries",
    "rnnkit.bleu": "rnnkit.metrics.bleu",
    "rnnkit.torch_interop": "rnnkit.interop.torch_convert",
    "rnnkit.torch_modules": "rnnkit.interop.torch_twins",
    "rnnkit.torch_train": "rnnkit.interop.torch_engine",
    "rnnkit.onnx_graph": "rnnkit.interop.onnx_graph",
    "rnnkit.onnx_export": "rnnkit.interop.onnx_export",
    "rnnkit.onnx_seq2seq": "rnnkit.interop.onnx_seq2seq",
    "rnnkit.sklearn": "rnnkit.interop.sklearn",
    "rnnkit.demo": "rnnkit.cli.demo",
    "rnnkit.bench": "rnnkit.cli.bench",
    "rnnkit.apps": "rnnkit.cli",
    "rnnkit.apps.common": "rnnkit.cli.common",
    "rnnkit.apps.forecast": "rnnkit.cli.forecast",
    "rnnkit.apps.classify": "rnnkit.cli.classify",
    "rnnkit.apps.textgen": "rnnkit.cli.textgen",
    "rnnkit.apps.translate": "rnnkit.cli.translate",
    "rnnkit.apps.predict": "rnnkit.cli.predict",
    "rnnkit.apps.export": "rnnkit.cli.export",
    "rnnkit.apps.series": "rnnkit.data.csv_series",
    "rnnkit.apps.classify_data": "rnnkit.data.examples",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self,
                                               is_package=fullname in ("rnnkit.cells",
                                                                       "rnnkit.apps"))

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new} in rnnkit 0.2; the old path will be removed",
                      DeprecationWarning, stacklevel=3)
        return importlib.import_module(new)

    def exec_module(self, module):
        pass  # the module is the new one, already executed


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias())  # before the path finders: a stale folder of an
        # old path must not shadow the alias

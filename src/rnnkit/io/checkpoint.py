"""Saving and loading models and training checkpoints as safetensors files (never pickle).

    rnnkit.save(model, "model.safetensors")          # parameters + config + version
    model = rnnkit.load("model.safetensors")         # rebuilds the model from its config
    save_checkpoint(path, model, optimizer=opt, training={...})   # for resuming a run
    model, extra = load_checkpoint(path)

Parameters are stored under the model's own names (``weight_ih_l0``, ``rnn.weight_ih_l0``,
``fc.weight``), which are PyTorch's, so a model-only file loads into the matching torch
module with ``load_state_dict(safetensors.torch.load_file(path))``. Optimizer buffers go under
``optimizer/<param>/<key>``; the model description, scalars and RNG states go in the header
metadata as JSON. Writes are atomic (see ``rnnkit.io.files``).
"""
from __future__ import annotations

import json

import numpy as np

from rnnkit.io.files import CheckpointError, read_safetensors, write_safetensors
from rnnkit.nn.module import Module
from rnnkit.nn.registry import build, describe, register_module  # noqa: F401 (public here)

FORMAT = "rnnkit"
OPTIM_PREFIX = "optimizer/"
def submodules(module: Module, prefix: str = ""):
    """(path, module) for the module and every descendant, parents first."""
    yield prefix, module
    children = getattr(module, "modules", None)
    if isinstance(children, dict):
        for name, child in children.items():
            yield from submodules(child, f"{prefix}{name}.")


def rng_states(model: Module) -> dict:
    """The state of every random generator in the model (dropout masks), keyed by path."""
    return {path: m.rng.bit_generator.state for path, m in submodules(model)
            if isinstance(getattr(m, "rng", None), np.random.Generator)}


def set_rng_states(model: Module, states: dict) -> None:
    for path, m in submodules(model):
        if path in states:
            m.rng.bit_generator.state = states[path]


def _metadata(model, training):
    from rnnkit.version import __version__

    meta = {"format": FORMAT, "rnnkit_version": __version__, "model": json.dumps(describe(model))}
    if training is not None:
        meta["training"] = json.dumps(training)
    return meta


def save(model: Module, path) -> None:
    """Write the model's parameters and description to ``path`` (atomic)."""
    write_safetensors(path, dict(model.params), _metadata(model, None))


EXTRA_PREFIX = "extra/"


def save_checkpoint(path, model: Module, optimizer=None, training: dict | None = None,
                    arrays: dict | None = None) -> None:
    """A resumable checkpoint: parameters, optimizer state, RNG states, ``training``
    (JSON-able: epoch, step, history, ...) and named extra ``arrays`` (e.g. the best weights
    so far). Atomic: a crash never leaves half a file."""
    tensors = dict(model.params)
    tensors.update({EXTRA_PREFIX + k: v for k, v in (arrays or {}).items()})
    training = dict(training or {})
    training["rng_states"] = rng_states(model)
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars = {}
        for pname, state in sd["state"].items():
            for key, value in state.items():
                if isinstance(value, np.ndarray):
                    tensors[f"{OPTIM_PREFIX}{pname}/{key}"] = value
                else:
                    scalars.setdefault(pname, {})[key] = value
        training["optimizer"] = {"class": type(optimizer).__name__,
                                 "hyperparams": sd["hyperparams"], "scalars": scalars}
    write_safetensors(path, tensors, _metadata(model, training))


def _load_params(model: Module, tensors: dict, path) -> None:
    params = model.params
    names = {k for k in tensors if not k.startswith((OPTIM_PREFIX, EXTRA_PREFIX))}
    missing, unexpected = sorted(set(params) - names), sorted(names - set(params))
    if missing or unexpected:
        raise CheckpointError(f"{path}: parameters do not match the model: missing {missing}, "
                              f"unexpected {unexpected}")
    for name, p in params.items():
        t = tensors[name]
        if t.shape != p.shape:
            raise CheckpointError(f"{path}: {name} has shape {t.shape}, the model expects "
                                  f"{p.shape}")
        if t.dtype != p.dtype:
            raise CheckpointError(f"{path}: {name} has dtype {t.dtype}, the model expects "
                                  f"{p.dtype}")
        if not np.all(np.isfinite(t)):
            raise CheckpointError(f"{path}: {name} contains NaN or inf")
    for name, p in params.items():
        p[...] = tensors[name]


def _open(path):
    """(tensors, metadata, training dict) of an rnnkit file, checked."""
    tensors, meta = read_safetensors(path)
    if meta.get("format") != FORMAT or "model" not in meta:
        raise CheckpointError(f"{path}: not an rnnkit file (no rnnkit model description in "
                              "its metadata)")
    try:
        training = json.loads(meta.get("training", "{}"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: corrupt metadata ({exc})") from None
    return tensors, meta, training


def _build_saved(path, meta) -> Module:
    try:
        return build(json.loads(meta["model"]))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: corrupt metadata ({exc})") from None
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the model: {exc}") from None


def _restore(path, tensors, training, model):
    """Parameters and RNG states into ``model``; returns (training with ``"arrays"``, the
    optimizer's state dict or None)."""
    _load_params(model, tensors, path)
    set_rng_states(model, training.pop("rng_states", {}))
    opt = training.pop("optimizer", None)
    training["arrays"] = {k[len(EXTRA_PREFIX):]: v for k, v in tensors.items()
                          if k.startswith(EXTRA_PREFIX)}
    return training, None if opt is None else _optimizer_state(tensors, opt)


def load(path) -> Module:
    """Rebuild a model saved by :func:`save` or :func:`save_checkpoint`; checks every name,
    shape and dtype, and raises :class:`CheckpointError` saying what does not fit."""
    tensors, meta, _ = _open(path)
    model = _build_saved(path, meta)
    _load_params(model, tensors, path)
    return model


def restore_checkpoint(path, model: Module, optimizer=None) -> dict:
    """Load a checkpoint into an existing model (and optimizer), which must match it.

    Returns the ``training`` dict with ``"arrays"`` (the extra arrays) added."""
    tensors, _, training = _open(path)
    training, optimizer_state = _restore(path, tensors, training, model)
    if optimizer is not None and optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    return training


def _optimizer_state(tensors, opt) -> dict:
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith(OPTIM_PREFIX):
            pname, _, buf = key[len(OPTIM_PREFIX):].rpartition("/")
            state.setdefault(pname, {})[buf] = value
    for pname, scalars in opt["scalars"].items():
        state.setdefault(pname, {}).update(scalars)
    return {"class": opt["class"], "state": state, "hyperparams": opt["hyperparams"]}


def load_checkpoint(path):
    """Returns (model, extra): ``extra["training"]`` is what was saved as ``training`` (with
    the RNG states already restored into the model, and the extra ``"arrays"``) and
    ``extra["optimizer"]`` a state dict for ``optimizer.load_state_dict`` (or None)."""
    tensors, meta, training = _open(path)
    model = _build_saved(path, meta)
    training, optimizer_state = _restore(path, tensors, training, model)
    return model, {"training": training, "optimizer": optimizer_state,
                   "rnnkit_version": meta.get("rnnkit_version")}

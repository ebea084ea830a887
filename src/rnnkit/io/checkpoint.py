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

from rnnkit.io import schema
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


def _check_params(model: Module, tensors: dict, path) -> None:
    """Every parameter of ``model`` in ``tensors`` with its shape and dtype, finite, and no
    other; CheckpointError otherwise. Touches nothing."""
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


def _load_params(model: Module, tensors: dict, path) -> None:
    _check_params(model, tensors, path)
    for name, p in model.params.items():
        p[...] = tensors[name]


# the part of the metadata that is JSON, and its form
TRAINING = schema.fields(
    optional_keys=("epoch", "step", "history", "shuffle_rng", "schedule", "callbacks",
                   "rng_states", "optimizer"),
    epoch=schema.integer(0, 10**12), step=schema.integer(0, 10**15),
    history=schema.dict_of(schema.list_of(schema.number(finite=False))),
    shuffle_rng=schema.fields(bit_generator=schema.text(), state=schema.anything()),
    schedule=schema.optional(schema.dict_of(schema.anything())),
    callbacks=schema.list_of(schema.optional(schema.dict_of(schema.anything()))),
    rng_states=schema.dict_of(schema.fields(bit_generator=schema.text(),
                                            state=schema.anything())),
    optimizer=schema.fields(class_=schema.text(), hyperparams=schema.dict_of(schema.anything()),
                            scalars=schema.dict_of(schema.dict_of(schema.anything()))),
)


def check_description(desc, where: str = "model") -> int:
    """Check a model description's form (known classes, configs of plain values) and return
    a lower bound on the parameters the model it describes holds: per recurrent layer and
    direction ``hidden_size**2``, the first layer's ``input_size * hidden_size``, plus
    embeddings, linear maps, convolutions and patch projections. Lets a
    loader refuse a description that asks for more than its file holds before allocating."""
    from rnnkit.nn.registry import MODULES

    if not isinstance(desc, dict) or desc.get("class") not in MODULES:
        raise schema.SchemaError(f"{where}: expected a module description with a known "
                                 f"'class', got {schema._short(desc)}")
    if "modules" in desc:
        children = schema.dict_of(schema.anything(), max_len=1000)(desc["modules"],
                                                                      f"{where}.modules")
        return sum(check_description(d, f"{where}.modules.{k}") for k, d in children.items())
    # a config's values are the class's own to check (build() refuses what it cannot take)
    config = schema.dict_of(schema.anything(), max_len=100)(desc.get("config"),
                                                            f"{where}.config")

    def size(key, default=0):
        v = config.get(key, default)
        return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else default

    h, d = size("hidden_size"), 2 if config.get("bidirectional") is True else 1
    return (size("num_layers", 1) * d * h * h + size("output_size") * h + size("input_size") * h
            + size("patch_size") * size("conv_channels", size("input_size")) * h
            + size("conv_kernel") * size("input_size") * size("conv_channels")
            + (size("vocab_size") + size("src_vocab_size") + size("tgt_vocab_size")
               + size("num_embeddings")) * size("embedding_dim")
            + size("in_features") * size("out_features")
            + size("in_channels") * size("patch_size") * size("out_features")
            + size("in_channels") * size("kernel_size") * size("out_channels")
            + size("out_size") * size("memory_size"))


def _open(path):
    """(tensors, metadata, training dict) of an rnnkit file, its JSON checked."""
    tensors, meta = read_safetensors(path)
    if meta.get("format") != FORMAT or "model" not in meta:
        raise CheckpointError(f"{path}: not an rnnkit file (no rnnkit model description in "
                              "its metadata)")
    try:
        training = schema.load_json(meta.get("training", "{}"), "training metadata",
                                    nonfinite=True)  # e.g. EarlyStopping's best = inf
        check_training(training, "training metadata")
        meta["model"] = schema.load_json(meta["model"], "model description")
        floor = check_description(meta["model"], "model description")
    except schema.SchemaError as exc:
        raise CheckpointError(f"{path}: corrupt metadata: {exc}") from None
    held = sum(t.size for k, t in tensors.items() if not k.startswith((OPTIM_PREFIX,
                                                                        EXTRA_PREFIX)))
    if floor > held:
        raise CheckpointError(f"{path}: the model description asks for at least {floor} "
                              f"parameters, the file holds {held} (tampered or corrupt)")
    return tensors, meta, training


def check_training(training, where: str) -> dict:
    """The training metadata's form (schema.fields cannot name a key 'class')."""
    if isinstance(training, dict) and isinstance(training.get("optimizer"), dict):
        opt = dict(training["optimizer"])
        opt["class_"] = opt.pop("class", None)
        schema.check({**training, "optimizer": opt}, TRAINING, where)
    else:
        schema.check(training, TRAINING, where)
    for key, state in {**training.get("rng_states", {}),
                       "shuffle_rng": training.get("shuffle_rng")}.items():
        if state is not None:
            try:  # a generator of the saved kind must accept the saved state
                np.random.PCG64().state = state
            except (TypeError, ValueError, KeyError, OverflowError) as exc:
                raise schema.SchemaError(f"{where}: random state {key!r} is invalid ({exc})") \
                    from None
    return training


def _build_saved(path, meta) -> Module:
    try:
        return build(meta["model"])
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the model: {exc}") from None


def _restore(path, tensors, training, model, optimizer=None):
    """Parameters, RNG states and (``optimizer``) its state into ``model``, everything
    checked before anything is changed; returns (training with ``"arrays"``, the
    optimizer's state dict or None)."""
    _check_params(model, tensors, path)
    opt = training.pop("optimizer", None)
    optimizer_state = None if opt is None else _optimizer_state(tensors, opt)
    if optimizer is not None and optimizer_state is not None:
        if opt["class"] != type(optimizer).__name__:
            raise CheckpointError(f"{path}: the checkpoint holds the state of a "
                                  f"{opt['class']} optimizer; this run uses "
                                  f"{type(optimizer).__name__}")
        missing = sorted(set(optimizer.hyperparams) - set(opt["hyperparams"]))
        if missing:
            raise CheckpointError(f"{path}: the optimizer state lacks {missing}")
        try:  # checks names and shapes before it changes the optimizer
            optimizer.load_state_dict(optimizer_state)
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"{path}: the optimizer state does not fit: {exc}") from None
    _load_params(model, tensors, path)
    set_rng_states(model, training.pop("rng_states", {}))
    training["arrays"] = {k[len(EXTRA_PREFIX):]: v for k, v in tensors.items()
                          if k.startswith(EXTRA_PREFIX)}
    return training, optimizer_state


def load(path) -> Module:
    """Rebuild a model saved by :func:`save` or :func:`save_checkpoint`; checks every name,
    shape and dtype, and raises :class:`CheckpointError` saying what does not fit."""
    tensors, meta, _ = _open(path)
    model = _build_saved(path, meta)
    _load_params(model, tensors, path)
    return model


def restore_checkpoint(path, model: Module, optimizer=None, check=None) -> dict:
    """Load a checkpoint into an existing model (and optimizer), which must match it (the
    optimizer's kind included). The whole file is checked before the model or the
    optimizer is changed: a refused checkpoint leaves both as they were. ``check(training,
    arrays)``, called first, lets the caller check its own part (a trainer's schedule and
    callbacks); a KeyError, TypeError or ValueError from it refuses the file too.

    Returns the ``training`` dict with ``"arrays"`` (the extra arrays) added."""
    tensors, _, training = _open(path)
    if check is not None:
        arrays = {k[len(EXTRA_PREFIX):]: v for k, v in tensors.items()
                  if k.startswith(EXTRA_PREFIX)}
        try:
            check(dict(training), arrays)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise CheckpointError(f"{path}: the training state does not fit this run: "
                                  f"{type(exc).__name__}: {exc}") from None
    training, _ = _restore(path, tensors, training, model, optimizer)
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

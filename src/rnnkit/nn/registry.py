"""The registry of module kinds: how a model is described, rebuilt and converted.

Each Module class registers itself once, next to its definition (``@register_module``): that
makes it saveable and loadable by name (:func:`describe` / :func:`build`, used by
checkpoints). Conversions to other formats (``"to_torch"``, ``"from_torch"``, ``"onnx"``)
register their functions here too, from the interop modules that implement them, keyed by
the class they convert; :func:`converter` finds the one for an object by walking its class
hierarchy, and its error lists what each target supports. No converter holds its own
``isinstance`` ladder.
"""
from __future__ import annotations

from collections.abc import Callable

MODULES: dict[str, type] = {}  # class name -> Module class
CONVERTERS: dict[str, dict[type, Callable]] = {}  # target -> {class: function}


def register_module(cls):
    """Class decorator: make a Module loadable by its name; ``cls(**obj.config())`` must
    rebuild an equal module (containers instead describe their children, see describe)."""
    MODULES[cls.__name__] = cls
    return cls


def register_converter(target: str, cls: type):
    """Decorator: ``fn`` converts instances of ``cls`` (and subclasses) for ``target``."""
    def add(fn):
        CONVERTERS.setdefault(target, {})[cls] = fn
        return fn
    return add


def converter(target: str, obj) -> Callable:
    """The function registered for ``target`` and ``type(obj)`` or its nearest base class;
    TypeError naming the supported classes when there is none."""
    table = CONVERTERS.get(target, {})
    for cls in type(obj).__mro__:
        if cls in table:
            return table[cls]
    supported = ", ".join(sorted(c.__name__ for c in table)) or "nothing"
    raise TypeError(f"{target}: no conversion for {type(obj).__name__} (supported: {supported})")


def supported(target: str) -> list[str]:
    """Names of the classes that ``target`` converts."""
    return sorted(c.__name__ for c in CONVERTERS.get(target, {}))


def describe(module) -> dict:
    """A JSON-able description that :func:`build` turns back into the same architecture:
    ``{"class": name, "config": module.config()}``, or for a container whose config has no
    arguments of its own ``{"class": name, "modules": {child: description}}``."""
    name = type(module).__name__
    if MODULES.get(name) is not type(module):
        raise TypeError(f"{name} is not a registered module kind (use @register_module)")
    if getattr(module, "describe_children", False):
        return {"class": name, "modules": {k: describe(m) for k, m in module.modules.items()}}
    return {"class": name, "config": module.config()}


def build(desc: dict):
    """The module that :func:`describe` described (freshly initialised weights).

    KeyError for an unknown class, TypeError/ValueError for a config the class refuses."""
    if not isinstance(desc, dict) or not isinstance(desc.get("class"), str):
        raise ValueError(f"a module description must be an object with a 'class', got {desc!r:.80}")
    cls = MODULES.get(desc["class"])
    if cls is None:
        raise KeyError(f"unknown module class {desc['class']!r} (known: {sorted(MODULES)})")
    if "modules" in desc:
        children = desc["modules"]
        if not isinstance(children, dict):
            raise ValueError(f"{desc['class']}: 'modules' must be an object of named children")
        return cls(**{k: build(d) for k, d in children.items()})
    config = desc.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{desc['class']}: 'config' must be an object of arguments")
    return cls(**config)

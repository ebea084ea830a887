"""Reading JSON that a user or an attacker may have written: task.json and checkpoint
metadata go through :func:`load_json` (a size cap and a nesting cap before parsing, no NaN
or Infinity) and then :func:`check` against a schema, before anything is built or
allocated from them.

A schema is a tree of validators, each a function ``(value, where) -> value`` that raises
:class:`SchemaError` naming the place (``task.json: mean[3]``) and what was expected::

    TASK = fields(mode=choice("series", "text"), channels=integer(1, 10**6),
                  mean=list_of(number(), max_len=10**6), label_column=optional(text()))
    check(task, TASK, "task.json")
"""
from __future__ import annotations

import json
import math

from rnnkit.errors import RnnkitError

MAX_JSON_BYTES = 256 * 2**20  # task.json holds the training series; far below this in practice
MAX_DEPTH = 64  # nesting of arrays and objects; rnnkit's own files nest less than 10


class SchemaError(RnnkitError, ValueError):
    """A JSON document that does not have the expected form; the message says where."""


def nesting_depth(value, limit: int) -> int:
    """The depth of nested lists and objects in a parsed JSON value, counted without
    recursion and only up to ``limit + 1``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict)
                                                   else item))
    return deepest


def _refuse_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def load_json(data, where: str, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH,
              nonfinite: bool = False):
    """Parse ``data`` (bytes or str) as JSON, or raise SchemaError saying why not: too
    large, nested too deeply, not UTF-8, not JSON, or holding NaN/Infinity (unless
    ``nonfinite``: Python's json writes them for float('inf'))."""
    if len(data) > max_bytes:
        raise SchemaError(f"{where}: {len(data)} bytes, more than the limit of {max_bytes}")
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SchemaError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") \
                from None
    try:  # json's scanner refuses deep nesting itself, with a RecursionError
        value = json.loads(data, **({} if nonfinite else {"parse_constant": _refuse_constant}))
    except RecursionError:
        raise SchemaError(f"{where}: nested more than {max_depth} levels deep") from None
    except ValueError as exc:
        raise SchemaError(f"{where}: not valid JSON ({exc})") from None
    if nesting_depth(value, max_depth) > max_depth:
        raise SchemaError(f"{where}: nested more than {max_depth} levels deep")
    return value


def check(value, schema, where: str):
    """``schema(value, where)``: the value, checked (SchemaError otherwise)."""
    return schema(value, where)


# --- validators ---------------------------------------------------------------------------------
def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null"}.get(type(value), type(value).__name__)


def integer(low=None, high=None):
    def validate(value, where):
        if isinstance(value, bool) or not isinstance(value, int) or \
                (low is not None and value < low) or (high is not None and value > high):
            bounds = " ".join(b for b in (f">= {low}" if low is not None else "",
                                          f"<= {high}" if high is not None else "") if b)
            raise SchemaError(f"{where}: expected an integer {bounds}, got {_short(value)}")
        return value
    return validate


def number(low=None, high=None, low_open=False, finite=True):
    def validate(value, where):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and \
            (math.isfinite(value) or not finite)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value <= high
        if not ok:
            raise SchemaError(f"{where}: expected a finite number"
                              + (f" {'>' if low_open else '>='} {low}" if low is not None else "")
                              + (f" <= {high}" if high is not None else "")
                              + f", got {_short(value)}")
        return value
    return validate


def text(max_len: int = 10**6):
    def validate(value, where):
        if not isinstance(value, str) or len(value) > max_len:
            raise SchemaError(f"{where}: expected a string, got {_kind(value)}")
        return value
    return validate


def boolean():
    def validate(value, where):
        if not isinstance(value, bool):
            raise SchemaError(f"{where}: expected true or false, got {_short(value)}")
        return value
    return validate


def choice(*options):
    def validate(value, where):
        if isinstance(value, bool) or value not in options:
            raise SchemaError(f"{where}: expected one of {', '.join(map(repr, options))}, got "
                              f"{_short(value)}")
        return value
    return validate


def optional(inner):
    def validate(value, where):
        return None if value is None else inner(value, where)
    return validate


def anything():
    return lambda value, where: value


def list_of(item, min_len: int = 0, max_len: int = 10**8, unique: bool = False):
    def validate(value, where):
        if not isinstance(value, list) or not min_len <= len(value) <= max_len:
            raise SchemaError(f"{where}: expected a list of {min_len} to {max_len} items, got "
                              f"{_kind(value)}" + (f" of {len(value)}" if isinstance(value, list)
                                                   else ""))
        for i, v in enumerate(value):
            item(v, f"{where}[{i}]")
        if unique and len(set(value)) != len(value):
            raise SchemaError(f"{where}: an item appears twice")
        return value
    return validate


def dict_of(item, max_len: int = 10**6):
    def validate(value, where):
        if not isinstance(value, dict) or len(value) > max_len:
            raise SchemaError(f"{where}: expected an object, got {_kind(value)}")
        for k, v in value.items():
            item(v, f"{where}.{k}")
        return value
    return validate


def fields(optional_keys=(), **spec):
    """An object with the keys of ``spec`` (those in ``optional_keys`` may be missing);
    other keys are allowed and left alone."""
    def validate(value, where):
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected an object, got {_kind(value)}")
        for key, inner in spec.items():
            if key not in value:
                if key in optional_keys:
                    continue
                raise SchemaError(f"{where}: the key {key!r} is missing")
            inner(value[key], f"{where}.{key}")
        return value
    return validate


def _short(value) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."

"""Plain-data encoding of the frozen values in ``sparktop.model`` (for JSON, recordings, HTTP).

``encode`` turns a dataclass tree into dicts, lists, strings and numbers; an ``Unknown`` becomes
``{"unknown": reason}`` and non-finite floats become the strings ``"NaN"``, ``"+Inf"``, ``"-Inf"``
so the result is valid JSON. ``decode`` is the strict inverse, driven by the type annotations: it
is meant for untrusted input (a recording, a server's answer) and raises ``DecodeError`` with the
path of the first field that does not fit, never anything else.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar, Union

from sparktop.model import Unknown

T = TypeVar("T")


class DecodeError(ValueError):
    """Input that does not fit the expected shape; the message names the field."""


def encode(value: object) -> Any:
    """A JSON-ready copy of ``value`` (dataclasses, Unknown, tuples, mappings, numbers, strings)."""
    if isinstance(value, Unknown):
        return {"unknown": value.reason}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return value
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    return value


_FLOAT_WORDS = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def decode(cls: type[T], data: object, path: str = "$") -> T:
    """Rebuild a ``cls`` from ``encode``'s output, checking every field against its annotation."""
    return typing.cast(T, _decode(cls, data, path))


def _decode(tp: Any, data: object, path: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return data
    if origin is typing.Literal:
        if data not in typing.get_args(tp):
            raise DecodeError(f"{path}: {data!r} is not one of {typing.get_args(tp)}")
        return data
    if origin in (Union, types.UnionType):
        return _decode_union(tp, data, path)
    if tp is Unknown:
        if isinstance(data, dict) and set(data) == {"unknown"} and isinstance(data["unknown"], str):
            return Unknown(data["unknown"])
        raise DecodeError(f"{path}: expected an unknown marker")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(data, dict):
            raise DecodeError(f"{path}: expected an object, got {type(data).__name__}")
        hints = _hints(tp)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                kwargs[f.name] = _decode(hints[f.name], data[f.name], f"{path}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise DecodeError(f"{path}: missing field {f.name!r}")
        return tp(**kwargs)
    if tp is float:
        if isinstance(data, bool):
            raise DecodeError(f"{path}: expected a number, got a boolean")
        if isinstance(data, (int, float)):
            return float(data)
        if isinstance(data, str) and data in _FLOAT_WORDS:
            return _FLOAT_WORDS[data]
        raise DecodeError(f"{path}: expected a number, got {type(data).__name__}")
    if tp is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
        raise DecodeError(f"{path}: expected an integer, got {type(data).__name__}")
    if tp is bool:
        if isinstance(data, bool):
            return data
        raise DecodeError(f"{path}: expected true or false, got {type(data).__name__}")
    if tp is str:
        if isinstance(data, str):
            return data
        raise DecodeError(f"{path}: expected a string, got {type(data).__name__}")
    if tp is type(None):
        if data is None:
            return None
        raise DecodeError(f"{path}: expected null")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(data, list):
            raise DecodeError(f"{path}: expected a list, got {type(data).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{path}[{i}]") for i, v in enumerate(data))
        if len(args) != len(data):
            raise DecodeError(f"{path}: expected {len(args)} items, got {len(data)}")
        return tuple(_decode(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, data, strict=True)))
    if origin in (Mapping, dict, typing.Mapping) or tp is dict:
        args = typing.get_args(tp) or (str, Any)
        if not isinstance(data, dict):
            raise DecodeError(f"{path}: expected an object, got {type(data).__name__}")
        return {
            _decode(args[0], k, f"{path}.<key>"): _decode(args[1], v, f"{path}.{k}") for k, v in data.items()
        }
    raise DecodeError(f"{path}: cannot decode into {tp!r}")


def _decode_union(tp: Any, data: object, path: str) -> Any:
    args = typing.get_args(tp)
    # Unknown is recognised by shape first, so a float field that is unknown decodes as Unknown.
    if Unknown in args and isinstance(data, dict) and set(data) == {"unknown"}:
        return _decode(Unknown, data, path)
    errors = []
    for arg in args:
        if arg is Unknown:
            continue
        try:
            return _decode(arg, data, path)
        except DecodeError as exc:
            errors.append(str(exc))
    raise DecodeError(errors[0] if len(errors) == 1 else f"{path}: {data!r} fits none of the expected types")

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
from collections.abc import Callable, Mapping
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

Decoder = Callable[[object], Any]


class _Bad(Exception):
    """A decoding failure on its way up; each level adds where it happened."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
        self.where: list[str] = []


def decode(cls: type[T], data: object, path: str = "$") -> T:
    """Rebuild a ``cls`` from ``encode``'s output, checking every field against its annotation."""
    try:
        return typing.cast(T, _decoder(typing.cast(Any, cls))(data))
    except _Bad as bad:
        raise DecodeError(f"{path}{''.join(reversed(bad.where))}: {bad.what}") from None


@cache
def _decoder(tp: Any) -> Decoder:
    """A decoding function for ``tp``, built once per type (decoding is on replay's hot path)."""
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return lambda data: data
    if origin is typing.Literal:
        allowed = typing.get_args(tp)

        def literal(data: object) -> object:
            if data not in allowed:
                raise _Bad(f"{data!r} is not one of {allowed}")
            return data

        return literal
    if origin in (Union, types.UnionType):
        return _union(typing.get_args(tp))
    if tp is Unknown:
        return _unknown
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass(tp)
    simple = _SIMPLE.get(tp)
    if simple is not None:
        return simple
    if origin is tuple:
        return _tuple(typing.get_args(tp))
    if origin in (Mapping, dict, typing.Mapping) or tp is dict:
        return _mapping(typing.get_args(tp) or (str, Any))

    def impossible(data: object) -> object:
        raise _Bad(f"cannot decode into {tp!r}")

    return impossible


def _unknown(data: object) -> Unknown:
    if type(data) is dict and len(data) == 1 and type(data.get("unknown")) is str:
        return Unknown(data["unknown"])
    raise _Bad("expected an unknown marker")


def _float(data: object) -> float:
    kind = type(data)
    if kind is float:
        return data  # type: ignore[return-value]
    if kind is int:
        return float(data)  # type: ignore[arg-type]
    if kind is str and data in _FLOAT_WORDS:
        return _FLOAT_WORDS[data]
    raise _Bad(f"expected a number, got {kind.__name__}")


def _int(data: object) -> int:
    if type(data) is int:
        return data
    raise _Bad(f"expected an integer, got {type(data).__name__}")


def _bool(data: object) -> bool:
    if type(data) is bool:
        return data
    raise _Bad(f"expected true or false, got {type(data).__name__}")


def _str(data: object) -> str:
    if type(data) is str:
        return data
    raise _Bad(f"expected a string, got {type(data).__name__}")


def _none(data: object) -> None:
    if data is not None:
        raise _Bad("expected null")


_SIMPLE: dict[Any, Decoder] = {float: _float, int: _int, bool: _bool, str: _str, type(None): _none}


def _dataclass(tp: type) -> Decoder:
    hints = typing.get_type_hints(tp)
    fields = [
        (
            f.name,
            hints[f.name],
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(tp)
    ]
    decoders: list[tuple[str, Decoder, bool]] = []

    def build(data: object) -> object:
        if not decoders:  # resolved on first use, so self-referencing types work
            decoders.extend((name, _decoder(hint), required) for name, hint, required in fields)
        if type(data) is not dict:
            raise _Bad(f"expected an object, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        for name, field_decoder, required in decoders:
            if name in data:
                try:
                    kwargs[name] = field_decoder(data[name])
                except _Bad as bad:
                    bad.where.append(f".{name}")
                    raise
            elif required:
                raise _Bad(f"missing field {name!r}")
        return tp(**kwargs)

    return build


def _union(args: tuple[Any, ...]) -> Decoder:
    accepts_unknown = Unknown in args
    others = [a for a in args if a is not Unknown]
    decoders: list[Decoder] = []
    only_float = others == [float]

    def union(data: object) -> object:
        if only_float and type(data) is float:  # the common Num case
            return data
        if accepts_unknown and type(data) is dict and len(data) == 1 and "unknown" in data:
            return _unknown(data)
        if not decoders:
            decoders.extend(_decoder(a) for a in others)
        failures = []
        for option in decoders:
            try:
                return option(data)
            except _Bad as bad:
                failures.append(bad)
        if len(failures) == 1:
            raise failures[0]
        raise _Bad(f"{data!r} fits none of the expected types")

    return union


def _tuple(args: tuple[Any, ...]) -> Decoder:
    if len(args) == 2 and args[1] is Ellipsis:
        item = args[0]

        def homogeneous(data: object) -> tuple[Any, ...]:
            if type(data) is not list:
                raise _Bad(f"expected a list, got {type(data).__name__}")
            decode_item = _decoder(item)
            out = []
            for i, value in enumerate(data):
                try:
                    out.append(decode_item(value))
                except _Bad as bad:
                    bad.where.append(f"[{i}]")
                    raise
            return tuple(out)

        return homogeneous

    def fixed(data: object) -> tuple[Any, ...]:
        if type(data) is not list:
            raise _Bad(f"expected a list, got {type(data).__name__}")
        if len(args) != len(data):
            raise _Bad(f"expected {len(args)} items, got {len(data)}")
        out = []
        for i, (arg, value) in enumerate(zip(args, data, strict=True)):
            try:
                out.append(_decoder(arg)(value))
            except _Bad as bad:
                bad.where.append(f"[{i}]")
                raise
        return tuple(out)

    return fixed


def _mapping(args: tuple[Any, ...]) -> Decoder:
    key_type, value_type = args

    def mapping(data: object) -> dict[Any, Any]:
        if type(data) is not dict:
            raise _Bad(f"expected an object, got {type(data).__name__}")
        decode_key, decode_value = _decoder(key_type), _decoder(value_type)
        out = {}
        for key, value in data.items():
            try:
                out[decode_key(key)] = decode_value(value)
            except _Bad as bad:
                bad.where.append(f".{key}")
                raise
        return out

    return mapping

"""The one JSON form of a Report's parts (schemas/targets.schema.json), written and read back.

Writers give each key in the schema's order, since targets.json is compared byte for byte; readers take
what they write, and also targets.json from older schema versions, whose later parts are missing (None or
empty). Both follow the dataclasses' fields and annotations, so a part is declared once (results/parts.py).
Anything else raises ReportFormatError, so a caller can say which file it was and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields, is_dataclass
from enum import Enum
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")
Names = tuple[str, ...] | str


class ReportFormatError(ValueError):
    """A dict that is not a targets.json this version can read."""


def flat(value: Any) -> dict[str, Any]:
    """A part as its JSON object: fields in declaration order, nested parts as objects, tuples as lists; a field
    marked OMITTED_IF_NONE is left out when None."""
    return {
        f.name: _jsonable(getattr(value, f.name))
        for f in fields(value)
        if getattr(value, f.name) is not None or not f.metadata.get("omitted_if_none")
    }


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return flat(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


def names(value: Names | None) -> list[str] | str | None:
    """Target names as JSON: one regex string, a list, or null."""
    return list(value) if isinstance(value, tuple) else value


# ---------------------------------------------------------------- readers


def build(cls: type[T], data: Any, **given: Any) -> T:
    """cls from its JSON object: each field read by its annotation (nested parts too), lists as tuples; a field
    with a default may be missing or null; `given` fields are taken as they are."""
    if not isinstance(data, Mapping):
        raise ReportFormatError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    hints = _hints(cls)
    values: dict[str, Any] = dict(given)
    for f in fields(cls):  # type: ignore[arg-type]
        optional = f.default is not MISSING or f.default_factory is not MISSING
        if f.name in given or (optional and data.get(f.name) is None):
            continue  # given, or missing (null) from an older schema: the field's default
        if f.name in data:
            try:
                values[f.name] = _read(data[f.name], hints[f.name])
            except ReportFormatError as exc:
                raise ReportFormatError(f"{cls.__name__}.{f.name}: {exc}") from None
        else:
            raise ReportFormatError(f"{cls.__name__}: no {f.name!r}")
    return cls(**values)


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    """A part's field annotations, resolved once."""
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _read(value: Any, hint: Any) -> Any:
    """A JSON value as the annotation asks: the scalar, tuple, mapping, enum and part types reports use."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _read(value, arg)
            except ReportFormatError:
                continue
        raise ReportFormatError(f"{value!r:.80} is not {hint}")
    if origin is tuple and isinstance(value, list):
        return tuple(_read(v, args[0]) for v in value)
    if origin is Mapping and isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _read(v, args[1]) for k, v in value.items()}
    if origin is not None:
        raise ReportFormatError(f"{value!r:.80} is not {hint}")
    if isinstance(hint, type) and is_dataclass(hint):
        return build(hint, value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            raise ReportFormatError(f"{value!r:.80} is not one of {[m.value for m in hint]}") from None
    plain = (int, float) if hint is float else hint
    if isinstance(hint, type) and isinstance(value, plain) and not (isinstance(value, bool) and hint is not bool):
        return value
    raise ReportFormatError(f"{value!r:.80} is not {getattr(hint, '__name__', hint)}")

"""pydantic v2's lax-mode validation of a YAML value against one type of the Axolotl type table, restated.

Axolotl validates its config with pydantic's defaults (lax mode, smart unions, extra keys ignored). A YAML
holds str, int, float, bool, None, lists, mappings and dates, so only those inputs are restated, each as
pydantic-core 2.41-2.46 coerces them (tests/unit/rules/test_axolotl_types.py holds this to pydantic itself):
a str accepts no number or boolean; an int accepts integral floats and integer strings ("1_000", " 2 ",
"3.00"); a float accepts ints, booleans and numeric strings; a bool accepts 0/1, 0.0/1.0 and the strings
pydantic lists. The table (scripts/gen_axolotl_types.py) is plain data; importing pydantic here would cost
the lint more than the check itself.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Path = tuple[Any, ...]
NO = object()  # a value the type refuses
INT_TEXT = re.compile(r"[+-]?\d+(?:_\d+)*(?:\.0+)?", re.ASCII)
TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
I64 = 2.0**63
BOUNDS = (("ge", operator.ge), ("gt", operator.gt), ("le", operator.le), ("lt", operator.lt))
WORDS = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false", "none": "null"}


@dataclass(frozen=True)
class Problem:
    path: Path  # where in the YAML (the value's path; a missing key's own path)
    expected: str  # the type in plain words
    field: str = ""  # the inventory entry of the field whose type refused it
    missing: bool = False
    choices: tuple[Any, ...] = ()  # the values a Literal or enum allows


def _text(v: Any) -> Any:
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            return NO
    return v if isinstance(v, str) else NO


def as_int(v: Any, strict: bool = False) -> Any:
    if strict:
        return v if type(v) is int else NO
    if isinstance(v, (bool, int)):
        return int(v)
    if isinstance(v, float):
        return int(v) if math.isfinite(v) and v.is_integer() and -I64 < v < I64 else NO
    text = _text(v)
    if text is NO or not INT_TEXT.fullmatch(text := text.strip()):
        return NO
    return int(text.split(".")[0].replace("_", ""))


def as_float(v: Any, strict: bool = False) -> Any:
    if isinstance(v, bool):
        return NO if strict else float(v)
    if isinstance(v, (int, float)):
        try:
            return float(v)
        except OverflowError:
            return NO
    text: Any = NO if strict else _text(v)
    if text is NO or not text.isascii():
        return NO
    try:
        return float(text.strip())
    except ValueError:
        return NO


def as_bool(v: Any, strict: bool = False) -> Any:
    if isinstance(v, bool) or strict:
        return v if isinstance(v, bool) else NO
    if isinstance(v, (int, float)):
        return bool(v) if v in (0, 1) else NO
    text = _text(v)
    if text is NO:
        return NO
    low = text.lower()
    return True if low in TRUE else False if low in FALSE else NO


def as_str(v: Any, strict: bool = False) -> Any:
    return (v if isinstance(v, str) else NO) if strict else _text(v)


COERCE: dict[str, Callable[[Any, bool], Any]] = {"int": as_int, "float": as_float, "bool": as_bool, "str": as_str}


def _bounded(x: Any, t: Mapping[str, Any]) -> bool:
    if isinstance(x, (str, list, tuple, set, frozenset, dict)):
        size = len(x)
        if size < t.get("min", 0) or ("max" in t and size > t["max"]):
            return False
        return "pattern" not in t or (isinstance(x, str) and re.search(t["pattern"], x) is not None)
    if t.get("nan") is False and not math.isfinite(x):
        return False
    if any(k in t and not op(x, t[k]) for k, op in BOUNDS):
        return False
    return "multiple_of" not in t or x % t["multiple_of"] == 0


def _literal(v: Any, values: list[Any]) -> bool:
    """pydantic's Literal: a str equals a str value; a number or boolean equals a number or boolean value."""
    for e in values:
        if isinstance(e, str) and isinstance(v, str) and v == e:
            return True
        if e is None and v is None:
            return True
        if isinstance(e, (int, float)) and isinstance(v, (int, float)) and v == e:
            return True
    return False


class Checker:
    """Validates raw values against table types, with what Axolotl runs first: `passes` restates a field validator
    of mode before (the value it hands on, or NO to leave the field unchecked), `rewrite` a model's validators of
    mode before that move or overwrite values."""

    def __init__(
        self, table: Mapping[str, Any], passes: Callable[[str, Any], Any], rewrite: Callable[..., Any]
    ) -> None:
        self.models: Mapping[str, Any] = table["models"]
        self.enums: Mapping[str, Any] = table["enums"]
        self.passes = passes  # (validator entry, raw value) -> the value it hands on, or NO to skip the check
        self.rewrite = rewrite  # (model validator entries, raw mapping) -> types_3.View after their rewrites

    def check(self, v: Any, t: Any, path: Path, field: str) -> list[Problem]:
        if isinstance(t, str):
            return [] if self.accepts(v, t) else [self.problem(path, t, field)]
        k = t["k"]
        if k == "null":
            return [] if v is None else self.check(v, t["of"], path, field)
        if k == "union":
            return self._union(v, t, path, field)
        if k == "fn":
            handed = self.passes(t["entry"], v)
            return [] if handed is NO or "of" not in t else self.check(handed, t["of"], path, field)
        if k == "model":
            if not isinstance(v, dict):
                return [Problem(path, self.words(t), field)]
            return list(self.fields(v, t["name"], path))
        if k == "list":
            if not isinstance(v, (list, tuple, set, frozenset)) or not _bounded(v, t):
                return [Problem(path, self.words(t), field)]
            return [p for i, item in enumerate(v) for p in self.check(item, t["of"], (*path, i), field)]
        if k == "dict":
            if not isinstance(v, dict) or not _bounded(v, t):
                return [Problem(path, self.words(t), field)]
            out = []
            for key, item in v.items():
                out += self.check(key, t["key"], (*path, key), field) + self.check(item, t["of"], (*path, key), field)
            return out
        if k == "tuple":
            return self._tuple(v, t, path, field)
        return [] if self.accepts(v, t) else [self.problem(path, t, field)]

    def accepts(self, v: Any, t: Any) -> bool:
        if isinstance(t, str):
            return t == "any" or (t == "none" and v is None) or (t in COERCE and COERCE[t](v, False) is not NO)
        k = t["k"]
        if k in COERCE:
            x = COERCE[k](v, bool(t.get("strict")))
            return x is not NO and _bounded(x, t)
        if k == "lit":
            return _literal(v, t["v"])
        if k == "enum":
            enum = self.enums[t["name"]]
            sub = enum["sub"]
            x = COERCE[sub](v, False) if sub in COERCE else v
            return x is not NO and any(x == e and isinstance(x, str) == isinstance(e, str) for e in enum["v"])
        return not self.check(v, t, (), "")

    def problem(self, path: Path, t: Any, field: str) -> Problem:
        return Problem(path, self.words(t), field, choices=tuple(self.choices(t)))

    def choices(self, t: Any) -> Iterator[Any]:
        if isinstance(t, dict):
            if t["k"] == "lit":
                yield from t["v"]
            elif t["k"] == "enum":
                yield from self.enums[t["name"]]["v"]
            elif t["k"] in ("null", "union", "fn") and "of" in t:
                for member in t["of"] if t["k"] == "union" else [t["of"]]:
                    yield from self.choices(member)

    def _union(self, v: Any, t: Mapping[str, Any], path: Path, field: str) -> list[Problem]:
        tried = [self.check(v, member, path, field) for member in t["of"]]
        if any(not found for found in tried):
            return []
        deeper = [found for found in tried if all(p.path != path for p in found)]  # the shape fitted, a part did not
        return min(deeper, key=len) if deeper else [self.problem(path, t, field)]

    def _tuple(self, v: Any, t: Mapping[str, Any], path: Path, field: str) -> list[Problem]:
        items = t["of"]
        var = t.get("var")
        if not isinstance(v, (list, tuple)) or (len(v) != len(items) if var is None else len(v) < len(items) - 1):
            return [Problem(path, self.words(t), field)]
        kinds = [items[i] if var is None or i < var else items[var] for i in range(len(v))]
        return [p for i, (item, kind) in enumerate(zip(v, kinds)) for p in self.check(item, kind, (*path, i), field)]

    def fields(self, v: Mapping[Any, Any], model: str, path: Path) -> Iterator[Problem]:
        """Problems of a mapping validated as `model`: each field found under one of its keys (aliases first, as
        pydantic looks them up), missing required fields, extra keys ignored."""
        rewrites = self.models[model].get("rewrites")
        view = self.rewrite(rewrites, v) if rewrites else None
        data = view.data if view else v
        for name, spec in self.models[model]["fields"].items():
            key = next((k for k in spec.get("keys", (name,)) if k in data), None)
            if key is None:
                if spec.get("req"):
                    yield Problem((*path, name), "a value (the key is required)", spec["src"], missing=True)
                continue
            for found in self.check(data[key], spec["t"], (*path, key), spec["src"]):
                yield view.origin_of(found, path) if view else found

    def words(self, t: Any) -> str:
        """The type in plain words, as the finding says it."""
        if isinstance(t, str):
            return WORDS.get(t, "anything")
        k = t["k"]
        if k in COERCE:
            return WORDS[k] + _limits(t)
        if k == "null":
            return f"{self.words(t['of'])} or null"
        if k == "lit":
            return _one_of(t["v"])
        if k == "enum":
            return _one_of(self.enums[t["name"]]["v"])
        if k == "union":
            return " or ".join(dict.fromkeys(self.words(m) for m in t["of"]))
        if k == "fn":
            return self.words(t["of"]) if "of" in t else "what its validator accepts"
        if k == "model":
            return f"a mapping ({t['name']})"
        if k == "list":
            size = " non-empty" if t.get("min") else ""
            return f"a{size} list of {_plural(self.words(t['of']))}" + _limits({"k": "list", **t}, items=True)
        if k == "dict":
            return f"a mapping of {_plural(self.words(t['key']))} to {_plural(self.words(t['of']))}"
        return f"a list of {len(t['of'])} items ({', '.join(self.words(i) for i in t['of'])})"


def _limits(t: Mapping[str, Any], items: bool = False) -> str:
    parts = [
        f"{w} {t[k]}" for k, w in (("ge", "at least"), ("gt", "above"), ("le", "at most"), ("lt", "below")) if k in t
    ]
    if t.get("min", 0) > (1 if items else 0):
        parts.append(f"at least {t['min']} {'items' if items else 'characters'} long")
    if "max" in t:
        parts.append(f"at most {t['max']} {'items' if items else 'characters'} long")
    if t.get("pattern"):
        parts.append(f"matching {t['pattern']}")
    if t.get("nan") is False:
        parts.append("finite")
    if t.get("strict"):
        parts.append("exactly (no conversion)")
    return (" " + " and ".join(parts)) if parts else ""


def _one_of(values: list[Any]) -> str:
    shown = ", ".join(
        repr(v) if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v) for v in values[:12]
    )
    return f"one of {shown}" + (f" (and {len(values) - 12} more)" if len(values) > 12 else "")


def _plural(words: str) -> str:
    for one, many in (
        ("a string", "strings"),
        ("an integer", "integers"),
        ("a number", "numbers"),
        ("a mapping", "mappings"),
    ):
        if words.startswith(one):
            return many + words[len(one) :]
    return words

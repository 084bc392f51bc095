"""Named configs (presets) and command-line overrides of their fields.

``apply_overrides(config, ["train.lr=3e-4", "model.hidden_sizes=64,32"])`` sets nested dataclass
fields from strings, converting each to the field's type; an unknown key or a value of the wrong
type raises ``ValueError`` naming the key, the expected type and the value.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def _convert(text: str, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null", "") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(text, inner[0], key)
    if origin is tuple:
        return tuple(_convert(part, args[0], key) for part in text.split(",") if part)
    if annotation is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{key} expects true or false, got {text!r}")
    if annotation in (int, float, str):
        try:
            return annotation(text)
        except ValueError:
            raise ValueError(f"{key} expects {annotation.__name__}, got {text!r}") from None
    raise ValueError(f"{key} cannot be set from the command line")


def apply_overrides(config: Any, overrides: list[str]) -> Any:
    """A copy of the dataclass ``config`` with ``key=value`` overrides (dotted keys for nesting)."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override must look like key=value, got {item!r}")
        key, text = item.split("=", 1)
        config = _set(config, key.strip().split("."), text.strip(), key.strip())
    return config


def _set(config: Any, path: list[str], text: str, key: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(config)}
    name = path[0]
    if name not in fields:
        raise ValueError(f"unknown setting {key!r}; known here: {', '.join(sorted(fields))}")
    current = getattr(config, name)
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise ValueError(f"unknown setting {key!r}: {name} has no sub-settings")
        return dataclasses.replace(config, **{name: _set(current, path[1:], text, key)})
    hints = typing.get_type_hints(type(config))
    return dataclasses.replace(config, **{name: _convert(text, hints[name], key)})


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def from_dict(cls: type, data: dict) -> Any:
    """Rebuild a (nested) dataclass from :func:`to_dict`'s output; unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown keys for {cls.__name__}: {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            value = from_dict(hint, value)
        elif typing.get_origin(hint) is tuple:
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)

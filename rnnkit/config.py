"""Named configs (presets) and command-line overrides of their fields.

``apply_overrides(config, ["train.lr=3e-4", "model.hidden_sizes=64,32"])`` sets nested dataclass
fields from strings, converting each to the field's type; an unknown key or a value of the wrong
type raises :class:`~rnnkit.errors.ConfigError` (a ``ValueError``) naming the key, the expected type
and the value; so does a value that the config's own checks refuse.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable
from typing import Any

from .errors import ConfigError


def check_at_least_one(config: Any, *names: str) -> None:
    """A :class:`ConfigError` naming the first of the fields ``names`` of ``config`` below 1."""
    for name in names:
        value = getattr(config, name)
        if value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")


def check_choice(config: Any, name: str, choices: Iterable[str]) -> None:
    """A :class:`ConfigError` naming the allowed values unless the field ``name`` of ``config`` is
    one of ``choices`` (a tuple of names, or a dict keyed by them)."""
    value = getattr(config, name)
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def check_at_least_zero(config: Any, name: str, zero: str) -> None:
    """A :class:`ConfigError` if the field ``name`` of ``config`` is below 0; ``zero`` says what 0
    means (``"0 for none"``)."""
    value = getattr(config, name)
    if value < 0:
        raise ConfigError(f"{name} must be >= 0 ({zero}), got {value}")


def check_fraction(config: Any, *names: str) -> None:
    """A :class:`ConfigError` naming the first of the fields ``names`` of ``config`` outside [0, 1)
    (a dropout probability, say)."""
    for name in names:
        value = getattr(config, name)
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{name} must be in [0, 1), got {value}")


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
        raise ConfigError(f"{key} expects true or false, got {text!r}")
    if annotation in (int, float, str):
        try:
            return annotation(text)
        except ValueError:
            raise ConfigError(f"{key} expects {annotation.__name__}, got {text!r}") from None
    raise ConfigError(f"{key} cannot be set from the command line")


def apply_overrides(config: Any, overrides: list[str]) -> Any:
    """A copy of the dataclass ``config`` with ``key=value`` overrides (dotted keys for nesting)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override must look like key=value, got {item!r}")
        key, text = (part.strip() for part in item.split("=", 1))
        config = replace_field(config, key, _convert(text, _field_type(config, key), key))
    return config


def _field_type(config: Any, key: str) -> Any:
    """The annotation of the field that the dotted ``key`` names, or a ConfigError naming the key."""
    *parents, name = key.split(".")
    for parent in parents:
        config = _get(config, parent, key)
        if not dataclasses.is_dataclass(config):
            raise ConfigError(f"unknown setting {key!r}: {parent} has no sub-settings")
    _get(config, name, key)
    return typing.get_type_hints(type(config))[name]


def _get(config: Any, name: str, key: str) -> Any:
    names = [f.name for f in dataclasses.fields(config)]
    if name not in names:
        raise ConfigError(f"unknown setting {key!r}; known here: {', '.join(sorted(names))}")
    return getattr(config, name)


def get_field(config: Any, key: str) -> Any:
    """The value of the dotted ``key`` of a nested dataclass (``"train.epochs"``)."""
    for name in key.split("."):
        config = _get(config, name, key)
    return config


def replace_field(config: Any, key: str, value: Any) -> Any:
    """A copy of the nested dataclass ``config`` with the dotted ``key`` set to ``value``.

    The dataclasses' own checks (``__post_init__``) run on the copies; a value they refuse is a
    :class:`ConfigError` with their message."""
    name, _, rest = key.partition(".")
    current = _get(config, name, key)
    if rest:
        value = replace_field(current, rest, value)
    try:
        return dataclasses.replace(config, **{name: value})
    except ConfigError:
        raise
    except ValueError as error:  # a check that raises a plain ValueError (TrainConfig's)
        raise ConfigError(str(error)) from error


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def from_dict(cls: type, data: dict) -> Any:
    """Rebuild a (nested) dataclass from :func:`to_dict`'s output; unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"unknown keys for {cls.__name__}: {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            value = from_dict(hint, value)
        elif typing.get_origin(hint) is tuple:
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)

"""The one cattrs converter: frozen mappings, RFC 3339 datetimes and UUIDs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, get_args, get_origin

import cattrs

__all__ = ["build_converter"]


def build_converter() -> cattrs.Converter:
    """Build the converter that knows frozen mappings, datetimes and UUIDs."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_unstructure_hook(MappingProxyType, dict)
    # Mapping[str, X] is not a class, so singledispatch cannot take it: match by predicate.
    converter.register_structure_hook_factory(_is_mapping_type, _frozen_mapping_hook)
    converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
    converter.register_structure_hook(datetime, lambda value, _t: _parse_time(value))
    converter.register_unstructure_hook(uuid.UUID, str)
    converter.register_structure_hook(uuid.UUID, lambda value, _t: uuid.UUID(value))
    return converter


def _is_mapping_type(target: Any) -> bool:
    origin: Any = get_origin(target)
    return origin is Mapping


def _frozen_mapping_hook(mapping_type: Any) -> Callable[[object, Any], Mapping[str, Any]]:
    """Return the hook for one Mapping[str, X] type; get_args is slow, so it runs once."""
    _, value_type = get_args(mapping_type) or (str, Any)

    def structure(value: object, _t: Any) -> Mapping[str, Any]:
        return _frozen_mapping(value, value_type)

    return structure


def _frozen_mapping(value: object, value_type: Any) -> Mapping[str, Any]:
    """Structure a JSON object into a read-only mapping whose values have the declared type."""
    if type(value) is dict and not value:
        return MappingProxyType({})
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and (value_type is Any or isinstance(v, value_type))
        for k, v in value.items()
    ):
        if value_type is float and isinstance(value, Mapping):
            return MappingProxyType({str(k): float(v) for k, v in value.items()})
        raise TypeError(f"expected an object of {getattr(value_type, '__name__', value_type)}")
    return MappingProxyType(dict(value))


def _parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise TypeError("expected an RFC 3339 string")
    return datetime.fromisoformat(value)

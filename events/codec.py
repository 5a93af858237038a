"""One cattrs converter, a registry of payload types by name and version, and upcasters.

Errors:
    CodecError
    ├── UnknownEventType   a type name nobody registered
    └── UndecodableEvent   a stored event whose fields or payload do not validate
"""

from __future__ import annotations

import re
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar, cast, get_args, get_origin, get_type_hints

import attrs
import cattrs
import orjson

from events.envelope import DatasetEvent, Env, EventPayload, freeze_map

__all__ = [
    "CodecError",
    "EventCodec",
    "PayloadCanonical",
    "PayloadDecoder",
    "PayloadRegistry",
    "UndecodableEvent",
    "UnknownEventType",
    "Upcaster",
    "build_converter",
    "compile_canonical",
    "compile_json_decoder",
    "compile_structure",
    "default_registry",
    "register_payload",
]

P = TypeVar("P", bound=EventPayload)
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
PayloadDecoder = Callable[[bytes | str], EventPayload]
# Stored payload JSON to its exported form, or None when unsure (the caller decodes it).
PayloadCanonical = Callable[[bytes | str], dict[str, Any] | None]


class CodecError(Exception):
    """An event could not be encoded or decoded."""


class UnknownEventType(CodecError):
    """The event type name is not registered: never dropped silently."""


class UndecodableEvent(CodecError):
    """A stored event does not decode into a valid DatasetEvent."""


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


_SCALARS = {str: "str", int: "int", float: "float", bool: "bool"}
_MISSING = object()


def _field_test(hint: Any) -> str | None:
    """Return a test, on `v`, that a JSON value needs no structuring for a field of this type.

    The tests are exact: a value passing one is what the converter would return unchanged
    (or, for a mapping, copy into a read-only mapping). None means no such test is known.
    """
    if hint in _SCALARS:
        return f"type(v) is {_SCALARS[hint]}"
    origin, args = get_origin(hint), get_args(hint)
    if origin in (types.UnionType, typing.Union) and len(args) == 2 and type(None) in args:
        (inner,) = (arg for arg in args if arg is not type(None))
        return f"(v is None or type(v) is {_SCALARS[inner]})" if inner in _SCALARS else None
    if origin is Mapping and args == (str, str):
        return "(type(v) is dict and (not v or _all_str(v)))"
    return None


def _all_str(value: dict[Any, Any]) -> bool:
    return all(type(k) is str and type(v) is str for k, v in value.items())


def _frozen_copy(value: dict[str, Any]) -> Mapping[str, Any]:
    # What _frozen_mapping returns for a dict it accepted.
    return MappingProxyType(dict(value)) if value else MappingProxyType({})


def compile_structure(cls: type[P]) -> Callable[[Any], P | None] | None:
    """Return a function that builds cls from JSON data whose fields need no structuring.

    It returns None for data it is not sure of (a wrong type, a missing or an extra key),
    which the converter's own hook must then structure or refuse; so it never accepts what
    the converter would refuse, and builds what the converter would build. None is also
    returned, instead of a function, for a class whose fields it has no test for.
    """
    compiled = _structure_source(cls, "return None")
    if compiled is None:
        return None
    lines, namespace = compiled
    source = ["def structure(o):", *lines]
    exec(compile("\n".join(source), f"<structure {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    built: Callable[[Any], P | None] = namespace["structure"]
    return built


def compile_json_decoder(
    cls: type[P], loads: Callable[[bytes | str], Any], fallback: Callable[[bytes | str], P]
) -> Callable[[bytes | str], P] | None:
    """Return a function from stored JSON to cls: compile_structure's, with loads inside.

    What compile_structure's function would build from loads(raw), it builds; for anything
    else (JSON that does not parse, data it is not sure of, a constructor that raises) it
    returns fallback(raw), which builds the payload the slow way or raises its error. One
    call per payload instead of three: replay decodes millions.
    """
    compiled = _structure_source(cls, "return _fallback(raw)")
    if compiled is None:
        return None
    lines, namespace = compiled
    namespace.update(_loads=loads, _fallback=fallback)
    source = [
        "def decode(raw):",
        "    try:",
        "        o = _loads(raw)",
        "    except Exception:",
        "        return _fallback(raw)",
        *lines,
    ]
    exec(compile("\n".join(source), f"<decode {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    built: Callable[[bytes | str], P] = namespace["decode"]
    return built


def _structure_source(cls: type[Any], fail: str) -> tuple[list[str], dict[str, Any]] | None:
    """Return the body that builds cls from a JSON object `o`, and the names it uses.

    The body runs `fail` for data it is not sure of (see compile_structure), and for a
    constructor or converter that raises. None when some field has no exact test.
    """
    try:
        hints = get_type_hints(cls)
        fields = attrs.fields(cast(Any, cls))
    except Exception:
        return None
    namespace: dict[str, Any] = {
        "cls": cls,
        "_MISSING": _MISSING,
        "_all_str": _all_str,
        "_frozen_copy": _frozen_copy,
        "_new": object.__new__,
    }
    direct = _settable_directly(cls, fields)
    # With every field required, the count of keys is known before any is looked at.
    counted = any(attribute.default is not attrs.NOTHING for attribute in fields)
    lines = ["    if type(o) is not dict:", f"        {fail}"]
    if counted:
        lines.append("    n = 0")
    else:
        lines += [f"    if len(o) != {len(fields)}:", f"        {fail}"]
    for index, attribute in enumerate(fields):
        name = attribute.name
        test = _field_test(hints.get(name))
        if test is None or not attribute.init or attribute.alias != name:
            return None
        value = "_frozen_copy(v)" if "_all_str" in test else "v"
        lines.append(f"    v = o.get({name!r}, _MISSING)")
        if attribute.default is attrs.NOTHING:
            lines += [f"    if not {test}:", f"        {fail}", f"    a{index} = {value}"]
            if counted:
                lines.append("    n += 1")
            continue
        lines += ["    if v is _MISSING:"]
        if not direct:
            lines.append(f"        a{index} = _MISSING")
        elif isinstance(attribute.default, attrs.Factory):  # type: ignore[arg-type]
            if attribute.default.takes_self:
                return None
            namespace[f"_factory{index}"] = attribute.default.factory
            lines.append(f"        a{index} = _factory{index}()")
        else:
            namespace[f"_default{index}"] = attribute.default
            lines.append(f"        a{index} = _default{index}")
        lines += ["    else:", f"        if not {test}:", f"            {fail}"]
        lines += [f"        a{index} = {value}", "        n += 1"]
    if counted:
        lines += ["    if n != len(o):", f"        {fail}"]
    lines.append("    try:")
    if direct:
        lines.append("        self = _new(cls)")
        for index, attribute in enumerate(fields):
            namespace[f"_set{index}"] = cls.__dict__[attribute.name].__set__
            value = f"a{index}"
            if attribute.converter is not None:
                namespace[f"_convert{index}"] = attribute.converter
                value = f"_convert{index}({value})"
            lines.append(f"        _set{index}(self, {value})")
    else:
        lines.append("        kw = {}")
        for index, attribute in enumerate(fields):
            lines.append(f"        if a{index} is not _MISSING:")
            lines.append(f"            kw[{attribute.name!r}] = a{index}")
        lines.append("        self = cls(**kw)")
    lines += ["    except Exception:", f"        {fail}", "    return self"]
    return lines, namespace


def compile_canonical(
    cls: type[EventPayload],
    converter: cattrs.Converter,
    *,
    parse: Callable[[bytes | str], Any] | None = None,
) -> Callable[[Any], dict[str, Any] | None] | None:
    """Return a function giving what unstructure(structure(data)) gives, without either.

    It answers only for data that compile_structure's function would build (same exact
    tests), for a class whose fields are stored as given (no converter but freeze_map, no
    validator, no hook), so the payload would be valid and would unstructure to the same
    values in field order, defaults filled in. For anything else it returns None.

    With parse, the function takes stored JSON instead, and answers for parse(raw); None
    when parse raises. One call per payload: export converts millions.
    """
    try:
        hints = get_type_hints(cls)
        fields = attrs.fields(cast(Any, cls))
    except Exception:
        return None
    if not _settable_directly(cls, fields) or any(
        attribute.converter not in (None, freeze_map) for attribute in fields
    ):
        return None
    namespace: dict[str, Any] = {"_MISSING": _MISSING, "_all_str": _all_str}
    lines = ["def canonical(o):", "    if type(o) is not dict:", "        return None", "    n = 0"]
    for index, attribute in enumerate(fields):
        name = attribute.name
        test = _field_test(hints.get(name))
        if test is None or not attribute.init or attribute.alias != name:
            return None
        value = "dict(v)" if "_all_str" in test else "v"
        lines.append(f"    v = o.get({name!r}, _MISSING)")
        if attribute.default is attrs.NOTHING:
            lines += [f"    if not {test}:", "        return None", f"    a{index} = {value}"]
            lines.append("    n += 1")
            continue
        default = attribute.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            if default.takes_self:
                return None
            default = default.factory()
        if attribute.converter is not None:
            default = attribute.converter(default)
        # The default as the converter unstructures it: a constant JSON value.
        namespace[f"_default{index}"] = converter.unstructure(default)
        lines += ["    if v is _MISSING:", f"        a{index} = _default{index}", "    else:"]
        lines += [f"        if not {test}:", "            return None"]
        lines += [f"        a{index} = {value}", "        n += 1"]
    lines += ["    if n != len(o):", "        return None"]
    items = ", ".join(f"{a.name!r}: a{index}" for index, a in enumerate(fields))
    lines.append(f"    return {{{items}}}")
    exec(compile("\n".join(lines), f"<canonical {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    by_field: Callable[[Any], dict[str, Any] | None] = namespace["canonical"]
    return _by_shape(cls, fields, hints, namespace, by_field, parse)


_SHAPES_PER_CLASS = 64


def _by_shape(
    cls: type[Any],
    fields: Any,
    hints: dict[str, Any],
    namespace: dict[str, Any],
    by_field: Callable[[Any], dict[str, Any] | None],
    parse: Callable[[bytes | str], Any] | None,
) -> Callable[[Any], dict[str, Any] | None]:
    """Wrap the per-field function with ones compiled per shape (the keys, in their order).

    A log's payloads of one type come in a few shapes; for a known one, the values are
    unpacked at once and tested as by_field tests them, missing fields taking the same
    defaults. Shapes that could never pass (an unknown key, a required field missing)
    and shapes past the first _SHAPES_PER_CLASS go through by_field itself.
    """
    names = [attribute.name for attribute in fields]
    required = {a.name for a in fields if a.default is attrs.NOTHING}
    shapes: dict[tuple[str, ...], Callable[[Any], dict[str, Any] | None]] = {}

    def compile_shape(shape: tuple[str, ...]) -> Callable[[Any], dict[str, Any] | None]:
        if len(set(shape)) != len(shape) or not required <= set(shape) <= set(names):
            return by_field
        values = {name: f"v{position}" for position, name in enumerate(shape)}
        # compile_canonical made sure every field has a test.
        field_tests = {name: str(_field_test(hints.get(name))) for name in names}
        tests = [_bind(field_tests[name], values[name]) for name in shape]
        out = []
        for index, name in enumerate(names):
            if name not in values:
                out.append(f"{name!r}: _default{index}")
            elif "_all_str" in field_tests[name]:
                out.append(f"{name!r}: dict({values[name]})")
            else:
                out.append(f"{name!r}: {values[name]}")
        unpack = ", ".join(values[name] for name in shape) + ","
        source = "\n".join(
            [
                "def shaped(o):",
                f"    {unpack} = o.values()",
                f"    if not ({' and '.join(tests)}):",
                "        return None",
                f"    return {{{', '.join(out)}}}",
            ]
        )
        scope = dict(namespace)
        exec(compile(source, f"<canonical {cls.__qualname__} shape>", "exec"), scope)  # noqa: S102
        shaped: Callable[[Any], dict[str, Any] | None] = scope["shaped"]
        return shaped

    def canonical(o: Any) -> dict[str, Any] | None:
        if type(o) is not dict or not o:
            return by_field(o)
        shape = tuple(o)
        found = shapes.get(shape)
        if found is None:
            if len(shapes) >= _SHAPES_PER_CLASS:
                return by_field(o)
            found = shapes[shape] = compile_shape(shape)
        return found(o)

    if parse is None:
        return canonical

    def canonical_json(raw: Any) -> dict[str, Any] | None:
        # canonical of parse(raw), None if either raises.
        try:
            return canonical(parse(raw))
        except Exception:
            return None

    return canonical_json


def _bind(test: str, variable: str) -> str:
    """Return a field test written on `v` for another variable."""
    return re.sub(r"\bv\b", variable, test)


def _settable_directly(cls: type[Any], fields: Any) -> bool:
    """Tell whether cls's __init__ does nothing but convert and store: no validators, no hooks."""
    slots = set(cls.__dict__.get("__slots__", ())) - {"__weakref__"}
    return (
        slots == {attribute.name for attribute in fields}
        and not hasattr(cls, "__attrs_post_init__")
        and not hasattr(cls, "__attrs_pre_init__")
        and all(
            attribute.validator is None
            and (
                attribute.converter is None or not isinstance(attribute.converter, attrs.Converter)
            )
            for attribute in fields
        )
    )


def _parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise TypeError("expected an RFC 3339 string")
    return datetime.fromisoformat(value)


@attrs.frozen
class _Entry:
    cls: type[EventPayload]
    version: int
    upcasters: dict[int, Upcaster]


class PayloadRegistry:
    """Payload classes by stable type name, with upcasters from older schema versions."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def register(self, cls: type[P], *, upcasters: Mapping[int, Upcaster] | None = None) -> type[P]:
        """Register a payload class under its event_type; a clash with another class is an error."""
        name = cls.event_type
        known = self._entries.get(name)
        if known is not None and known.cls is not cls:
            raise CodecError(f"event type {name!r} is already registered to {known.cls!r}")
        self._entries[name] = _Entry(cls, cls.schema_version, dict(upcasters or {}))
        return cls

    def payload_class(self, event_type: str) -> type[EventPayload]:
        """Return the class for a type name, or raise UnknownEventType."""
        return self._entry(event_type).cls

    def upcast(self, event_type: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
        """Bring a stored payload of an older schema version up to the current one."""
        entry = self._entry(event_type)
        if version > entry.version:
            raise UndecodableEvent(
                f"{event_type} schema version {version} is newer than this code ({entry.version})"
            )
        while version < entry.version:
            step = entry.upcasters.get(version)
            if step is None:
                raise UndecodableEvent(f"{event_type}: no upcaster from schema version {version}")
            payload = step(payload)
            version += 1
        return payload

    def upcast_steps(self, event_type: str, version: int) -> tuple[Upcaster, ...]:
        """Return the upcasters that upcast() applies to this version, in order.

        Raise as upcast() would (UnknownEventType, UndecodableEvent) when it would.
        """
        entry = self._entry(event_type)
        if version > entry.version:
            raise UndecodableEvent(
                f"{event_type} schema version {version} is newer than this code ({entry.version})"
            )
        steps = []
        while version < entry.version:
            step = entry.upcasters.get(version)
            if step is None:
                raise UndecodableEvent(f"{event_type}: no upcaster from schema version {version}")
            steps.append(step)
            version += 1
        return tuple(steps)

    def types(self) -> list[type[EventPayload]]:
        """Return every registered payload class."""
        return [entry.cls for entry in self._entries.values()]

    def _entry(self, event_type: str) -> _Entry:
        try:
            return self._entries[event_type]
        except KeyError:
            raise UnknownEventType(f"unknown event type {event_type!r}") from None


default_registry = PayloadRegistry()


def register_payload(
    cls: type[P] | None = None, *, upcasters: Mapping[int, Upcaster] | None = None
) -> Any:
    """Register a payload class in the default registry; usable bare or with upcasters."""

    def wrap(target: type[P]) -> type[P]:
        return default_registry.register(target, upcasters=upcasters)

    return wrap if cls is None else wrap(cls)


class EventCodec:
    """Encode DatasetEvents to JSON and decode them back, through one converter."""

    def __init__(self, registry: PayloadRegistry | None = None) -> None:
        self.registry = registry if registry is not None else default_registry
        self.converter = build_converter()
        self._decoders: dict[tuple[str, int], PayloadDecoder] = {}
        self._canonicals: dict[tuple[str, int], PayloadCanonical | None] = {}
        self._unstructurers: dict[type[Any], Callable[[Any], Any]] = {}

    def payload_to_json(self, payload: EventPayload) -> bytes:
        """Serialise a payload alone, as the store keeps it.

        The converter's hook for each payload class is looked up once: its dispatch on
        every call cost a quarter of this (every appended event comes through here).
        """
        unstructure = self._unstructurers.get(type(payload))
        if unstructure is None:
            unstructure = self.converter.get_unstructure_hook(type(payload))
            self._unstructurers[type(payload)] = unstructure
        return orjson.dumps(unstructure(payload))

    def payload_from_json(self, event_type: str, schema_version: int, raw: bytes | str) -> Any:
        """Decode a stored payload of a given type and version into its current class."""
        return self.payload_decoder(event_type, schema_version)(raw)

    def payload_decoder(self, event_type: str, schema_version: int) -> PayloadDecoder:
        """Return a cached function that decodes stored payloads of one type and version."""
        key = (event_type, schema_version)
        decoder = self._decoders.get(key)
        if decoder is None:
            decoder = self._build_decoder(event_type, schema_version)
            self._decoders[key] = decoder
        return decoder

    def payload_canonical(self, event_type: str, schema_version: int) -> PayloadCanonical | None:
        """Return a cached function from stored payload JSON to its exported form, or None.

        The function gives what decoding then unstructuring would give, upcasts included,
        or None for a payload it is not sure of; None instead of a function means the type
        has no such shortcut. Either way the caller decodes the payload the usual way.
        """
        key = (event_type, schema_version)
        if key not in self._canonicals:
            self._canonicals[key] = self._build_canonical(event_type, schema_version)
        return self._canonicals[key]

    def _build_canonical(self, event_type: str, schema_version: int) -> PayloadCanonical | None:
        try:
            cls = self.registry.payload_class(event_type)
            steps = self.registry.upcast_steps(event_type, schema_version)
        except CodecError:
            return None  # the decoder refuses these payloads with the error
        loads = orjson.loads

        def upcast(raw: bytes | str) -> Any:
            data = loads(raw)
            for step in steps:
                data = step(data)
            return data

        return compile_canonical(cls, self.converter, parse=upcast if steps else loads)

    def _build_decoder(self, event_type: str, schema_version: int) -> PayloadDecoder:
        cls = self.registry.payload_class(event_type)
        # The hook is looked up once per type, not once per event: replay decodes millions.
        hook = self.converter.get_structure_hook(cls)
        upcast = schema_version != cls.schema_version
        registry = self.registry
        loads = orjson.loads

        def decode(raw: bytes | str) -> EventPayload:
            try:
                data = loads(raw)
                if upcast:
                    data = registry.upcast(event_type, schema_version, data)
                payload: EventPayload = hook(data, cls)
                return payload
            except CodecError:
                raise
            except Exception as exc:
                raise UndecodableEvent(f"{event_type} payload does not decode: {exc}") from None

        if not upcast:
            quick = compile_json_decoder(cls, loads, decode)
            return decode if quick is None else quick
        fast = compile_structure(cls)
        if fast is None:
            return decode

        def decode_quickly(raw: bytes | str) -> EventPayload:
            # Exact-typed upcast payloads are built by the compiled function; anything else
            # (or anything it is unsure of) takes the full path above.
            try:
                data = registry.upcast(event_type, schema_version, loads(raw))
                built = fast(data)
            except Exception:
                built = None
            return built if built is not None else decode(raw)

        return decode_quickly

    def to_dict(self, event: DatasetEvent) -> dict[str, Any]:
        """Return the envelope as plain JSON-ready data."""
        return {
            "event_id": str(event.event_id),
            "type": event.type,
            "schema_version": event.schema_version,
            "stream": event.stream,
            "version": event.version,
            "tenant": event.tenant,
            "env": event.env.value,
            "request_id": event.request_id,
            "trace_id": event.trace_id,
            "actor": event.actor,
            "occurred_at": event.occurred_at.isoformat(),
            "payload": self.converter.unstructure(event.payload),
            "metadata": dict(event.metadata),
        }

    def encode(self, event: DatasetEvent) -> bytes:
        """Serialise a whole event as one JSON document."""
        return orjson.dumps(self.to_dict(event))

    def from_dict(self, data: Mapping[str, Any]) -> DatasetEvent:
        """Build a validated DatasetEvent from its JSON form."""
        try:
            event_type = data["type"]
            cls = self.registry.payload_class(event_type)
            payload = data["payload"]
            version = data.get("schema_version", cls.schema_version)
            if version != cls.schema_version:
                payload = self.registry.upcast(event_type, version, dict(payload))
            return DatasetEvent(
                event_id=uuid.UUID(data["event_id"]),
                stream=data["stream"],
                version=data["version"],
                tenant=data["tenant"],
                env=Env(data["env"]),
                request_id=data["request_id"],
                trace_id=data["trace_id"],
                actor=data["actor"],
                occurred_at=datetime.fromisoformat(data["occurred_at"]),
                payload=self.converter.structure(payload, cls),
                metadata=data.get("metadata") or {},
            )
        except CodecError:
            raise
        except Exception as exc:
            raise UndecodableEvent(f"event does not decode: {exc!r}") from None

    def decode(self, raw: bytes | str) -> DatasetEvent:
        """Parse one JSON document into a validated DatasetEvent."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UndecodableEvent(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise UndecodableEvent("an event must be a JSON object")
        return self.from_dict(data)

"""Stored payload JSON to its exported form without decoding it, for export and verify.

compile_canonical writes, per payload class and per shape of its stored objects, a
function that gives what unstructure(structure(data)) gives, or None when unsure (the
caller then decodes the payload). It builds dicts, never payloads: no constructor is
bypassed. Export and verify convert millions of payloads through it; nothing on the
request path does.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, cast, get_args, get_origin, get_type_hints

import attrs
import cattrs

from events.envelope import EventPayload, bind, freeze_map

__all__ = ["compile_canonical"]


_SCALARS = {str: "str", int: "int", float: "float", bool: "bool"}
_MISSING = object()


def _field_test(
    hint: Any, converter: cattrs.Converter, nested: dict[str, Any]
) -> tuple[str, str] | None:
    """Return a test, on `v`, that a JSON value needs no structuring for a field of this type,
    and the expression of the value the converter would give for it.

    The tests are exact: a value passing one is what the converter would return unchanged
    (or, for a mapping, copy into a read-only mapping; for an attrs class, or a tuple of
    one, structure into what its own canonical form gives). None means no such test is
    known. Canonical forms of nested classes go into `nested`, under the names the
    expressions call them by; a nested form's result is kept in a name of its own (walrus),
    so it is computed once.
    """
    if hint in _SCALARS:
        return f"type(v) is {_SCALARS[hint]}", "v"
    origin, args = get_origin(hint), get_args(hint)
    if origin in (types.UnionType, typing.Union) and len(args) == 2 and type(None) in args:
        (inner,) = (arg for arg in args if arg is not type(None))
        if inner in _SCALARS:
            return f"(v is None or type(v) is {_SCALARS[inner]})", "v"
        name = _nested_form(inner, converter, nested)
        if name is None:
            return None
        kept = f"_w{name}"
        return (
            f"(v is None or ({kept} := {name}(v)) is not None)",
            f"(None if v is None else {kept})",
        )
    if origin is Mapping and args == (str, str):
        return "(type(v) is dict and (not v or _all_str(v)))", "dict(v)"
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        name = _nested_form(args[0], converter, nested)
        if name is None:
            return None
        kept = f"_w{name}"
        test = f"(type(v) is list and None not in ({kept} := [{name}(x) for x in v]))"
        return test, kept
    return None


def _nested_form(cls: Any, converter: cattrs.Converter, nested: dict[str, Any]) -> str | None:
    """Compile the canonical form of a nested attrs class into nested; return its name."""
    if not attrs.has(cls):
        return None
    form = compile_canonical(cast(Any, cls), converter)
    if form is None:
        return None
    name = f"_nested{len(nested)}"
    nested[name] = form
    return name


def _all_str(value: dict[Any, Any]) -> bool:
    return all(type(k) is str and type(v) is str for k, v in value.items())


def compile_canonical(
    cls: type[EventPayload],
    converter: cattrs.Converter,
    *,
    parse: Callable[[bytes | str], Any] | None = None,
) -> Callable[[Any], dict[str, Any] | None] | None:
    """Return a function giving what unstructure(structure(data)) gives, without either.

    It answers only for data whose every field passes an exact test (see _field_test),
    for a class whose fields are stored as given (no converter but freeze_map, no
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
    field_tests: dict[str, tuple[str, str]] = {}
    for index, attribute in enumerate(fields):
        name = attribute.name
        found = _field_test(hints.get(name), converter, namespace)
        if found is None or not attribute.init or attribute.alias != name:
            return None
        field_tests[name] = found
        test, value = found
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
        namespace[f"_default{index}"] = converter.unstructure(default, unstructure_as=hints[name])
        lines += ["    if v is _MISSING:", f"        a{index} = _default{index}", "    else:"]
        lines += [f"        if not {test}:", "            return None"]
        lines += [f"        a{index} = {value}", "        n += 1"]
    lines += ["    if n != len(o):", "        return None"]
    items = ", ".join(f"{a.name!r}: a{index}" for index, a in enumerate(fields))
    lines.append(f"    return {{{items}}}")
    exec(compile("\n".join(lines), f"<canonical {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    by_field: Callable[[Any], dict[str, Any] | None] = namespace["canonical"]
    return _by_shape(cls, fields, field_tests, namespace, by_field, parse)


_SHAPES_PER_CLASS = 64


def _by_shape(
    cls: type[Any],
    fields: Any,
    field_tests: dict[str, tuple[str, str]],
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
        tests = [bind(field_tests[name][0], values[name]) for name in shape]
        out = []
        for index, name in enumerate(names):
            if name not in values:
                out.append(f"{name!r}: _default{index}")
            else:
                out.append(f"{name!r}: {bind(field_tests[name][1], values[name])}")
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

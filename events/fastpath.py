"""Every constructor bypass of the events layer: objects built by storing into their slots.

A frozen attrs class stores each field through object.__setattr__, looked up field by
field; the builders here store straight into the slots. slot_builder writes them from
attrs.fields at import, never by hand: a field's validator is run as its FieldRule's quick
test (events.envelope, the one rule), and values any test is not sure of go through the
constructor, which accepts them or refuses them with its usual error. Nothing else in the
events layer builds an object around its constructor; tests/events/test_fastpath.py holds
each builder to the constructor it stands for and fails when one is missing or differs.

What each is worth, in instructions per POST (`flock /tmp/bench.lock python -m
bench.instructions post`, 661,738 on a7c6f18), with against without: event_from_columns
(every event the writer builds and every row a store reads) 14,849, 2.2%. Bypasses worth
under 1% there are not kept: storing RecordedEvent's two slots (3,713, 0.6%) and UUID's
(3,588, 0.5%), the compiled payload decoders (none: -436), and the row decoder's own
inlined copy of this builder (1,340, 0.2%) were dropped for their constructors.
The chat layer writes none of its own: chat_core.views.message_view is a slot_builder's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

import attrs

from events.envelope import RULE_NAMES, DatasetEvent, Env, EventPayload, bind, rule_of

__all__ = ["EventBuilder", "event_from_columns", "slot_builder"]

T = TypeVar("T")


def slot_builder(cls: type[T]) -> Callable[..., T]:
    """Return a function of cls's init fields, in order, that returns what cls(...) returns.

    Generated from attrs.fields(cls): it tests the values with the fields' FieldRules
    (see events.envelope.rule_of) and, when all pass, stores each (converted, where the
    field has a converter) into its slot; otherwise it calls the constructor. A class this
    cannot build exactly (hooks, factories, a validator without a rule) raises TypeError.
    """
    fields = attrs.fields(cast(Any, cls))
    slots = set(cls.__dict__.get("__slots__", ())) - {"__weakref__"}
    if slots != {a.name for a in fields} or any(
        hasattr(cls, hook) for hook in ("__attrs_pre_init__", "__attrs_post_init__")
    ):
        raise TypeError(f"{cls.__qualname__} is not a plain slotted attrs class")
    namespace: dict[str, Any] = {**RULE_NAMES, "_cls": cls, "_new": object.__new__}
    params: list[str] = []
    tests: list[str] = []
    stores: list[str] = []
    keywords: list[str] = []
    for index, attribute in enumerate(fields):
        namespace[f"_set{index}"] = cls.__dict__[attribute.name].__set__
        default = attribute.default
        if isinstance(default, attrs.Factory) or isinstance(  # type: ignore[arg-type]
            attribute.converter, attrs.Converter
        ):
            raise TypeError(f"{cls.__qualname__}.{attribute.name}: no factories or Converters")
        if not attribute.init:
            namespace[f"_default{index}"] = default
            stores.append(f"    _set{index}(self, _default{index})")
            continue
        name = attribute.alias
        if default is attrs.NOTHING:
            if params and "=" in params[-1]:
                raise TypeError(f"{cls.__qualname__}.{name}: a required field after a default")
            params.append(name)
        else:
            namespace[f"_default{index}"] = default
            params.append(f"{name}=_default{index}")
        rule = rule_of(attribute)
        if rule is not None:
            tests.append(f"({bind(rule.test, name)})")
        value = name
        if attribute.converter is not None:
            namespace[f"_convert{index}"] = attribute.converter
            value = f"_convert{index}({name})"
        stores.append(f"    _set{index}(self, {value})")
        keywords.append(f"{name}={name}")
    lines = [f"def build({', '.join(params)}):"]
    if tests:
        lines += [
            f"    if not ({' and '.join(tests)}):",
            f"        return _cls({', '.join(keywords)})",
        ]
    lines += ["    self = _new(_cls)", *stores, "    return self"]
    exec(compile("\n".join(lines), f"<slot builder {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    built: Callable[..., T] = namespace["build"]
    return built


class EventBuilder(Protocol):
    """The signature of event_from_columns: DatasetEvent's fields, in order."""

    def __call__(
        self,
        event_id: uuid.UUID,
        stream: str,
        version: int,
        tenant: str,
        env: Env,
        request_id: str,
        trace_id: str,
        actor: str,
        occurred_at: datetime,
        payload: EventPayload,
        metadata: Mapping[str, str] | None = None,
    ) -> DatasetEvent: ...


# DatasetEvent(...) for stored or freshly decided values: the writer and the store readers
# build every event through it.
event_from_columns: EventBuilder = cast(EventBuilder, slot_builder(DatasetEvent))

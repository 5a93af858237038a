"""The temperature config: its bounds, the decision to replace it, and the handler that asks."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime

from chat_core.caches import StreamCache
from chat_core.commands import SetTemperatureConfig
from chat_core.context import Role, require_role
from chat_core.errors import FieldError, PreconditionFailed, ValidationFailed
from chat_core.idempotency import IdempotencyGuard
from chat_core.payloads import TemperatureConfigChanged
from chat_core.state import TemperatureState, temperature_stream
from chat_core.views import Replay, TemperatureConfigView, render_answer
from chat_core.writer import Draft, Job, StreamWriter
from events.bus import MessageBus
from events.envelope import DatasetEvent
from events.store.base import EventStore

__all__ = [
    "TEMPERATURE_CEILING",
    "TEMPERATURE_FLOOR",
    "TemperatureHandler",
    "check_if_match",
    "check_temperature",
    "set_temperature",
]

# Every temperature (min, default, max and each override) lies between these.
TEMPERATURE_FLOOR = 0.0
TEMPERATURE_CEILING = 2.0


def check_if_match(if_match: str | None, version: int) -> None:
    """Raise PreconditionFailed unless If-Match is absent, * or names this strong version."""
    if if_match is None:
        return
    current = f'"{version}"'
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" in tags or current in tags:
        return
    raise PreconditionFailed(f"If-Match {if_match!r} does not match the current ETag {current}")


def check_temperature(
    default: float, low: float, high: float, overrides: Mapping[str, float]
) -> list[FieldError]:
    """Return every rule 0 <= min <= default <= max <= 2 and min <= override <= max breaks."""
    errors: list[FieldError] = []
    for name, value in (("min", low), ("default", default), ("max", high)):
        if not math.isfinite(value) or not TEMPERATURE_FLOOR <= value <= TEMPERATURE_CEILING:
            errors.append(
                (name, f"must be between {TEMPERATURE_FLOOR:g} and {TEMPERATURE_CEILING}")
            )
    if errors:
        return errors
    if low > default:
        errors.append(("default", "must be at least min"))
    if default > high:
        errors.append(("default", "must be at most max"))
    if low > high:
        errors.append(("max", "must be at least min"))
    for model, value in overrides.items():
        if not model or len(model) > 128:
            errors.append(("overrides", "model names must be 1 to 128 characters"))
        elif not math.isfinite(value) or not low <= value <= high:
            errors.append((f"overrides.{model}", f"must be between min {low} and max {high}"))
    return errors


def set_temperature(
    state: TemperatureState, command: SetTemperatureConfig
) -> TemperatureConfigChanged:
    """Decide a new temperature config when If-Match holds and the bounds do."""
    check_if_match(command.if_match, state.version)
    errors = check_temperature(command.default, command.min, command.max, command.overrides)
    if errors:
        raise ValidationFailed("the temperature config breaks its bounds", errors)
    return TemperatureConfigChanged(
        default=command.default, min=command.min, max=command.max, overrides=command.overrides
    )


class TemperatureHandler:
    """Handle SetTemperatureConfig through the config stream's writer."""

    def __init__(
        self,
        *,
        store: EventStore,
        bus: MessageBus,
        temperatures: StreamCache[TemperatureState],
        clock: Callable[[], datetime],
    ) -> None:
        self._bus = bus
        self._writer = StreamWriter(
            store=store, cache=temperatures, clock=clock, guard=IdempotencyGuard(store)
        )

    def register(self) -> None:
        """Make this the bus's handler of SetTemperatureConfig."""
        self._bus.register(SetTemperatureConfig, self.set_temperature)

    async def set_temperature(
        self, command: SetTemperatureConfig
    ) -> TemperatureConfigView | Replay:
        """Replace the temperature config when the caller is an admin and If-Match holds."""
        require_role(command.context, command.auth, Role.ADMIN)

        def decision(draft: Draft[TemperatureState]) -> list[TemperatureConfigChanged]:
            return [set_temperature(draft.state, command)]

        job = Job(
            context=command.context,
            auth=command.auth,
            decision=decision,
            render=lambda events: _render(events[-1]),
            status=200,
            idempotency=command.idempotency,
            batchable=False,
        )
        answer: TemperatureConfigView | Replay = await self._writer.run(
            temperature_stream(command.context), job
        )
        return answer


def _render(event: DatasetEvent) -> TemperatureConfigView:
    """Render the answer with the same code replay rebuilds records with."""
    view = render_answer(event)
    assert isinstance(view, TemperatureConfigView)
    return view

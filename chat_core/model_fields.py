"""What a post's model fields decide: the temperature applied and who may start a generation."""

from __future__ import annotations

import attrs

from chat_core.context import AuthContext, RequestContext, Role, has_role
from chat_core.errors import Forbidden, ValidationFailed
from chat_core.payloads import LlmFields
from chat_core.state import TemperatureState

__all__ = ["IN_PROGRESS", "applied_temperature", "needs_temperature", "require_generator"]

IN_PROGRESS = "in_progress"


def require_generator(context: RequestContext, auth: AuthContext, llm: LlmFields | None) -> None:
    """Raise Forbidden when a caller who is no agent starts a generation."""
    starts = llm is not None and llm.status == IN_PROGRESS
    if starts and not has_role(auth, context.tenant, Role.AGENT):
        raise Forbidden(f"only the agent role starts a generation in tenant {context.tenant}")


def needs_temperature(role: str, llm: LlmFields | None) -> bool:
    """Tell whether the tenant's temperature config decides something about this message."""
    if llm is None:
        return False
    return llm.temperature is not None or (role == "assistant" and llm.model is not None)


def applied_temperature(role: str, llm: LlmFields, config: TemperatureState) -> LlmFields:
    """Return the model fields with the temperature the config puts in force.

    An assistant message with a model and no temperature records the config's override for
    that model, else its default; a temperature sent is kept when it lies within the
    config's [min, max], else the post is refused.
    """
    if llm.temperature is not None:
        if not config.min <= llm.temperature <= config.max:
            raise ValidationFailed(
                "the temperature is outside the tenant's config",
                [("temperature", f"must be between min {config.min:g} and max {config.max:g}")],
            )
        return llm
    if role == "assistant" and llm.model is not None:
        applied = config.overrides.get(llm.model, config.default)
        return attrs.evolve(llm, temperature=applied)
    return llm

"""export --format chat --min-rating and --format preference: rated replies as datasets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from chat_core.commands import RateMessage
from chat_core.context import AuthContext
from chat_core.dataset_lines import preference_lines
from chat_core.payloads import LlmFields
from events.envelope import Env
from tests.tooling.conftest import Cli
from tests.tooling.dataset_logs import ADA, AGENT, BOB, Conversation
from tests.tooling.logs import log_file, open_core
from tests.tooling.test_dataset_export import _store_export, jsonl

QUESTION = {"role": "user", "content": "Capital of France?"}


async def _rate(talk: Conversation, auth: AuthContext, message_id: str, rating: int | None) -> None:
    await talk.core.bus.send(
        RateMessage(
            context=talk.context(),
            auth=auth,
            thread_id=talk.thread_id,
            message_id=message_id,
            rating=rating,
            comment=None if rating is None else "rated",
        )
    )


async def write_rated_log(url: str) -> dict[str, str]:
    """Write a thread of rated sibling answers; return the ids by name."""
    core = await open_core(url)
    try:
        talk = await Conversation(core, "t_acme", Env.DEV).open()
        ids = {"thread": talk.thread_id}
        gpt = LlmFields(model="gpt-x", temperature=0.5)
        ids["q"] = await talk.post(ADA, "user", "Capital of France?")
        for name, text in (
            ("up", "Paris."),
            ("down", "Lyon."),
            ("plain", "Nice."),
            ("gone", "Metz."),
        ):
            ids[name] = await talk.post(AGENT, "assistant", text, parent=ids["q"], llm=gpt)
        await _rate(talk, ADA, ids["up"], -1)
        await _rate(talk, ADA, ids["up"], 1)  # a new rating replaces the rater's last
        await _rate(talk, BOB, ids["up"], 1)
        await _rate(talk, ADA, ids["down"], -1)
        await _rate(talk, ADA, ids["plain"], 1)
        await _rate(talk, ADA, ids["plain"], None)  # withdrawn
        await _rate(talk, ADA, ids["gone"], 1)
        await talk.redact(ids["gone"])
        # The down answer goes on: its path carries it with weight 0.
        ids["q2"] = await talk.post(ADA, "user", "Sure?", parent=ids["down"])
        ids["a2"] = await talk.post(AGENT, "assistant", "Paris, sorry.", llm=gpt)
        await _rate(talk, BOB, ids["a2"], 1)
        return ids
    finally:
        await core.close()


@pytest.fixture(scope="module")
def rated(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """Return the URL of a SQLite log of rated answers and the ids in it."""
    url = log_file(tmp_path_factory.mktemp("rated"))
    return url, asyncio.run(write_rated_log(url))


def _export(cli: Cli, url: str, target: Path, *flags: str) -> bytes:
    status, out, err = cli("export", "--store", url, "-o", str(target), *flags)
    assert status == 0, out + err
    return target.read_bytes()


def _chat(ids: dict[str, str], leaf: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    metadata = {"tenant": "t_acme", "env": "dev", "thread_id": ids["thread"], "leaf_id": ids[leaf]}
    return {"messages": messages, "metadata": metadata | {"model": "gpt-x", "temperature": 0.5}}


def test_min_rating_keeps_the_paths_whose_last_answer_was_rated_up(
    rated: tuple[str, dict[str, str]], cli: Cli, tmp_path: Path
) -> None:
    url, ids = rated
    exported = _export(cli, url, tmp_path / "up.jsonl", "--format", "chat", "--min-rating", "1")
    assert exported == jsonl(
        [
            _chat(ids, "up", [QUESTION, {"role": "assistant", "content": "Paris."}]),
            _chat(
                ids,
                "a2",
                [
                    QUESTION,
                    {"role": "assistant", "content": "Lyon.", "weight": 0},
                    {"role": "user", "content": "Sure?"},
                    {"role": "assistant", "content": "Paris, sorry."},
                ],
            ),
        ]
    )


def test_without_min_rating_every_shown_path_comes_out(
    rated: tuple[str, dict[str, str]], cli: Cli, tmp_path: Path
) -> None:
    url, ids = rated
    exported = _export(cli, url, tmp_path / "all.jsonl", "--format", "chat")
    leaves = [orjson.loads(line)["metadata"]["leaf_id"] for line in exported.splitlines()]
    assert leaves == [ids["up"], ids["plain"], ids["a2"]]


def test_preference_pairs_the_sibling_rated_up_with_the_one_rated_down(
    rated: tuple[str, dict[str, str]], cli: Cli, tmp_path: Path
) -> None:
    url, _ = rated
    exported = _export(cli, url, tmp_path / "pref.jsonl", "--format", "preference")
    # The withdrawn rating and the redacted answer make no pair.
    assert exported == jsonl(
        [
            {
                "input": {"messages": [QUESTION]},
                "preferred_output": [{"role": "assistant", "content": "Paris."}],
                "non_preferred_output": [{"role": "assistant", "content": "Lyon."}],
            }
        ]
    )
    assert b"Metz" not in exported
    assert exported == _export(cli, url, tmp_path / "again.jsonl", "--format", "preference")


def test_min_rating_does_not_apply_to_preference(
    rated: tuple[str, dict[str, str]], cli: Cli
) -> None:
    url, _ = rated
    status, _, err = cli(
        "export", "--store", url, "--format", "preference", "--min-rating", "1", "-o", "-"
    )
    assert status == 2
    assert "--min-rating" in err


def test_the_store_path_rates_as_the_rows_path_does(
    rated: tuple[str, dict[str, str]], cli: Cli, tmp_path: Path
) -> None:
    url, _ = rated
    exported = _export(cli, url, tmp_path / "pref.jsonl", "--format", "preference")

    async def through_the_store() -> bytes:
        core = await open_core(url)
        try:
            return await _store_export(core, preference_lines)
        finally:
            await core.close()

    assert asyncio.run(through_the_store()) == exported

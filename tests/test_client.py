"""The protocol-1 client against a real server: closed sessions, abandoned streams."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from functools import partial

import pytest
from conftest import EN, read_wav
from server_fixtures import fixture_server_pool, running_server  # noqa: F401

from livewhisper import client
from livewhisper.audio import FileSource
from livewhisper.errors import ClosedError
from livewhisper.server import ModelPool


def test_a_closed_session_refuses_use(server_pool: ModelPool) -> None:
    speech = read_wav(EN / "ps_cards_002.wav")

    async def refused(use: Callable[[], Awaitable[object]]) -> str:
        with pytest.raises(ClosedError, match="is closed") as caught:
            await use()
        return str(caught.value)

    async def scenario(url: str) -> list[str]:
        async with client.listen(url, language="en") as left:
            await left.send(speech)
        async with client.listen(url, language="en") as closed:
            await closed.close()
            await closed.close()  # twice is fine
        messages = []
        for session in (left, closed):  # closed by the block's end, and by close()
            messages += [
                await refused(partial(session.send, speech)),
                await refused(session.end),
                await refused(partial(anext, aiter(session))),
            ]
            assert session.closed
        return messages

    with running_server(server_pool) as server:
        messages = asyncio.run(scenario(server.ws_url))
    print("\n".join(messages))


def test_a_full_server_refuses_with_busy(server_pool: ModelPool) -> None:
    # The refusal races the client's config: either way the client says 'busy'.
    async def scenario(url: str) -> list[str]:
        codes = []
        async with client.listen(url, language="en"):
            for _ in range(3):
                with pytest.raises(client.ServerError) as caught:
                    async with client.listen(url, language="en"):
                        pass
                codes.append(caught.value.code)
        return codes

    with running_server(server_pool, max_sessions=1) as server:
        assert asyncio.run(scenario(server.ws_url)) == ["busy"] * 3


def test_a_stream_left_early_closes_its_source(server_pool: ModelPool) -> None:
    source = FileSource(EN / "jfk.wav", speed=2.0)

    async def scenario(url: str) -> None:
        async for _ in client.stream(url, source, language="en"):
            break
        gc.collect()  # the dropped generator's aclose() is now scheduled: let it run
        await asyncio.sleep(0)
        others = asyncio.all_tasks() - {asyncio.current_task()}
        await asyncio.gather(*others, return_exceptions=True)  # the sender ends cancelled

    with running_server(server_pool) as server:
        asyncio.run(scenario(server.ws_url))
    assert source.closed

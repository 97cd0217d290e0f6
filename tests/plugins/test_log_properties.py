"""Property tests (Hypothesis) for the open-ended inputs of the logging and AI plugins: the
queue never loses, reorders or over-fills a batch; statsd's UDP packing keeps every line once
and in order within the size; a prompt template's parameters cannot inject JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from konnect_desktop.plugins.ai_prompt_template import render
from konnect_desktop.plugins.log_queue import LogQueue, queue_params
from konnect_desktop.plugins.statsd import packets


class _Time:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, d: float) -> None:
        self.now += d
        await asyncio.sleep(0)


@settings(max_examples=60, deadline=None)
@given(entries=st.lists(st.integers(), max_size=60), batch=st.integers(1, 7),
       delay=st.sampled_from([0, 0.5, 3]), fails=st.integers(0, 3))
def test_queue_delivers_everything_in_order(entries: list[int], batch: int, delay: float, fails: int) -> None:
    got: list[list[int]] = []
    calls = 0

    async def handler(conf: Any, items: list[int]) -> tuple[bool, str | None]:
        nonlocal calls
        calls += 1
        if calls <= fails:
            return False, "down"
        got.append(list(items))
        return True, None

    async def run() -> None:
        t = _Time()
        q = LogQueue(queue_params("t", {"queue": {"max_batch_size": batch, "max_coalescing_delay": delay,
                                                  "initial_retry_delay": 0.01}}, "q"),
                     handler, None, clock=t.clock, sleep=t.sleep)
        for e in entries:
            q.enqueue(e)
        for _ in range(100_000):
            if q.task is None:
                break
            await asyncio.sleep(0)

    asyncio.run(run())
    assert [e for b in got for e in b] == entries
    assert all(1 <= len(b) <= batch for b in got)


@given(lines=st.lists(st.text(alphabet="abc.:|", min_size=1, max_size=40), max_size=30),
       size=st.integers(0, 200))
def test_statsd_packets_keep_lines(lines: list[str], size: int) -> None:
    out = packets(lines, size)
    assert [line for p in out for line in p.decode().split("\n")] == lines
    if size > 0:
        assert all(len(p) <= size or "\n" not in p.decode() for p in out)


# (values without "{": a value holding "{{name}}" is reported as a missing parameter, as in Kong)
@given(props=st.dictionaries(st.from_regex(r"[A-Za-z0-9_]{1,8}", fullmatch=True),
                             st.text(st.characters(blacklist_characters="{"), max_size=40), max_size=4))
def test_template_parameters_cannot_inject_json(props: dict[str, str]) -> None:
    template = json.dumps({"messages": [{"role": "user", "content": " ".join(f"{{{{{k}}}}}" for k in props)}]})
    text, err = render(template, props)
    assert err is None and text is not None
    doc = json.loads(text)
    assert list(doc) == ["messages"] and len(doc["messages"]) == 1
    assert doc["messages"][0]["content"] == " ".join(props[k] for k in props)

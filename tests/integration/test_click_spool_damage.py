"""A record in the click spool that passes its CRC but is no click this code could have written
(a time past what a date holds, nesting deeper than the JSON reader goes) is skipped and
counted; the loader does not stop at it, and the clicks after it are stored."""

from __future__ import annotations

import pytest

from models import Click
from tests.factories import Factory
from tests.stack import Stack

POISON = [
    b'[1,"'
    + b"ab" * 16
    + b'",1,null,"'
    + b"cd" * 16
    + b'",false,"UA",1'
    + b"0" * 30
    + b",1,null]",
    b"[" * 100_000 + b"]" * 100_000,
]


@pytest.mark.parametrize("poison", POISON, ids=["time-past-year-9999", "deep-nesting"])
async def test_a_record_that_is_no_click_is_skipped_and_the_clicks_after_it_are_stored(
    stack: Stack, factory: Factory, poison: bytes
) -> None:
    link = await factory.link(await factory.affiliate())
    loader = stack.services.click_loader
    await stack.services.clicks.track(link.code, None, "1.2.3.4", "UA before")
    assert loader.spool.append(poison)
    await stack.services.clicks.track(link.code, None, "5.6.7.8", "UA after")

    await stack.load_clicks()

    agents = (
        await Click.filter(link_id=link.id).order_by("id").values_list("user_agent", flat=True)
    )
    assert agents == ["UA before", "UA after"]
    assert loader.damaged == 1

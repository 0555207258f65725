"""Turns what a race tick found into messages: the outbox for people, edits for the channel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from loguru import logger
from redis.asyncio import Redis

from bot.i18n import DEFAULT_LANGUAGE, pick_language
from bot.services.affiliates import reachable
from bot.services.outbox import Letter, OutboxService
from bot.services.races import RaceService, Standing, TickResult
from bot.telegram.render import (
    board_lines,
    news_text,
    prize_lines,
    race_title,
    reminder_text,
    result_text,
)
from models import Affiliate, Category, Race


class RaceNews:
    def __init__(
        self,
        bot: Bot,
        i18n: I18n,
        redis: Redis,
        races: RaceService,
        outbox: OutboxService,
        cooldown: int = 300,
    ) -> None:
        self.cooldown = cooldown  # seconds between two race news messages to one person
        self.bot = bot
        self.i18n = i18n
        self.redis = redis
        self.races = races
        self.outbox = outbox
        # Queues what caused the news (a conversion's or a referral's notice still folding)
        # before the news itself, so that "you are #1" never comes before "+$2.50".
        self.flush_first: Callable[[int], Awaitable[object]] | None = None

    def _locale(self, affiliate: Affiliate) -> str:
        return pick_language(affiliate.language, affiliate.tg_language)

    async def after_tick(self, result: TickResult) -> int:
        """Queue each affiliate's news (one item, at most one per cooldown) and edit the board."""
        race = result.race
        people = await self.races.names([n.affiliate_id for n in result.news])
        letters = []
        for item in result.news:
            affiliate = people.get(item.affiliate_id)
            if affiliate is None or not reachable(affiliate, Category.RACE_NEWS):
                continue
            if self.cooldown:
                fresh = await self.redis.set(
                    f"race:{race.id}:news:{item.affiliate_id}", b"1", nx=True, ex=self.cooldown
                )
                if not fresh:
                    continue
            with self.i18n.context(), self.i18n.use_locale(self._locale(affiliate)):
                text = news_text(race, item.kind, item.rank)
            letters.append(
                Letter(
                    f"race{race.id}:news:{result.snapshot_id}:{affiliate.id}",
                    affiliate.tg_id,
                    text,
                )
            )
        if self.flush_first is not None:
            for affiliate_id in {n.affiliate_id for n in result.news}:
                await self.flush_first(affiliate_id)
        queued = await self.outbox.enqueue(letters)
        await self.update_board(race, result)
        return queued

    async def update_board(self, race: Race, result: TickResult) -> None:
        """One leaderboard message in the announce channel, edited rather than posted anew.

        Telegram failing it holds up nothing else (other races, results): the next tick edits
        again, after a 429 only once its retry_after has passed. A timeout on the very first
        post, when Telegram did post it, leaves no message id: the next tick posts a second
        board (the Bot API cannot be asked whether it was taken).
        """
        if race.announce_chat_id is None:
            return
        wait = f"race:{race.id}:board:wait"
        if await self.redis.exists(wait):
            return  # Telegram said to wait before editing this channel again
        names = await self.races.names([s.affiliate_id for s in result.top])
        with self.i18n.context(), self.i18n.use_locale(DEFAULT_LANGUAGE):
            text = "\n".join(
                [
                    race_title(race),
                    "",
                    *board_lines(race, result.top, names, DEFAULT_LANGUAGE),
                    "",
                    _("{count} taking part · updated {time} UTC").format(
                        count=result.participants, time=datetime.now(UTC).strftime("%H:%M")
                    ),
                ]
            )
        try:
            if race.announce_message_id:
                await self.bot.edit_message_text(
                    text=text,
                    chat_id=race.announce_chat_id,
                    message_id=race.announce_message_id,
                )
                return
            sent = await self.bot.send_message(race.announce_chat_id, text)
            race.announce_message_id = sent.message_id
            await race.save(update_fields=["announce_message_id"])
            await self.bot.pin_chat_message(
                race.announce_chat_id, sent.message_id, disable_notification=True
            )
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:
                logger.warning("race {} board: {}", race.id, exc.message)
        except TelegramForbiddenError as exc:
            logger.warning("race {} board: the bot cannot post there ({})", race.id, exc.message)
        except TelegramRetryAfter as exc:
            await self.redis.set(wait, b"1", ex=max(int(exc.retry_after), 1))
            logger.warning(
                "race {} board: flood limit, next edit in {} s", race.id, exc.retry_after
            )
        except (TelegramAPIError, ClientDecodeError) as exc:  # 5xx, a timeout: the next tick
            logger.warning("race {} board not updated: {!r}", race.id, exc)

    async def remind(self, race: Race, label: str) -> int:
        queued = 0
        after = 0
        while True:
            page = await self.races.participant_ids(race.id, after)
            if not page:
                return queued
            after = page[-1][0]
            people = await self.races.names([aff for _, aff in page])
            letters = []
            for _entry, aff in page:
                affiliate = people.get(aff)
                if affiliate is None or not reachable(affiliate, Category.RACE_NEWS):
                    continue
                locale = self._locale(affiliate)
                standing = await self.races.board.rank(race, aff)
                with self.i18n.context(), self.i18n.use_locale(locale):
                    text = reminder_text(race, label, standing, locale)
                letters.append(Letter(f"race{race.id}:remind{label}:{aff}", affiliate.tg_id, text))
            queued += await self.outbox.enqueue(letters)

    async def results(self, race: Race) -> int:
        """Tell every participant their final place and prize (as finalising stored them),
        and post the results to the channel."""
        queued = 0
        after = 0
        while page := await self.races.final_results(race, after):
            after += len(page)
            people = await self.races.names([r.affiliate_id for r in page])
            letters = []
            for result in page:
                affiliate = people.get(result.affiliate_id)
                if affiliate is None or not reachable(affiliate):  # a place and prize: always
                    continue
                locale = self._locale(affiliate)
                with self.i18n.context(), self.i18n.use_locale(locale):
                    text = result_text(race, result, locale)
                letters.append(
                    Letter(f"race{race.id}:result:{affiliate.id}", affiliate.tg_id, text)
                )
            queued += await self.outbox.enqueue(letters)
        await self._post_results(race)
        await self.races.mark_results_sent(race.id)
        return queued

    async def _post_results(self, race: Race) -> None:
        if race.announce_chat_id is None:
            return
        top = await self.races.final_results(race, 0, 10)
        names = await self.races.names([r.affiliate_id for r in top])
        prizes = await self.races.prizes(race.id)
        standings = [Standing(r.affiliate_id, r.place, r.score) for r in top]
        with self.i18n.context(), self.i18n.use_locale(DEFAULT_LANGUAGE):
            text = "\n".join(
                [
                    race_title(race),
                    _("🏁 The race is over! Final standings:"),
                    "",
                    *board_lines(race, standings, names, DEFAULT_LANGUAGE),
                    "",
                    *prize_lines(race, prizes, DEFAULT_LANGUAGE),
                ]
            )
        await self.outbox.enqueue(
            [Letter(f"race{race.id}:channel:results", race.announce_chat_id, text)]
        )

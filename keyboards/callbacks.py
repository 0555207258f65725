"""CallbackData factories: short prefixes, StrEnum actions, ids only.

Every field is bounded: a forged or stale button whose values do not fit (an id past the
column's range, an over-long label) does not unpack, so no handler sees it and the fallback
router answers that the button is out of date.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

from bot.services.codes import LABEL_MAX
from bot.services.inputs import INT32_MAX
from bot.services.stats import Period

Id = Annotated[int, Field(ge=0, le=INT32_MAX)]
Page = Annotated[int, Field(ge=0, le=100_000)]
# pydantic's pattern is Rust's regex, where $ is the very end (no trailing newline).
Label = Annotated[str, Field(max_length=LABEL_MAX, pattern=r"^[a-z0-9-]*$")]
Currency = Annotated[str, Field(pattern=r"^(?:[A-Z]{3})?$")]
Word = Annotated[str, Field(max_length=16, pattern=r"^[A-Za-z0-9_.-]*$")]


class MenuAction(StrEnum):
    MAIN = "main"
    LINKS = "links"
    STATS = "stats"
    RACES = "races"
    BALANCE = "bal"
    SETTINGS = "set"
    HELP = "help"


class MenuCallback(CallbackData, prefix="m"):
    action: MenuAction


class LinkAction(StrEnum):
    SHOW = "s"
    QR = "q"
    SUBS = "subs"
    SUB_ADD = "sa"
    SUB_DEL = "sd"
    SUB_DEL_OK = "sdo"
    CANCEL = "c"


class LinkCallback(CallbackData, prefix="l"):
    action: LinkAction
    link_id: Id = 0  # 0: the affiliate's own bot link
    label: Label = ""


class StatsCallback(CallbackData, prefix="sx"):
    period: Period = Period.TODAY
    chart: bool = False


class BalanceAction(StrEnum):
    SHOW = "s"
    HISTORY = "h"
    PAYOUT = "p"
    CONFIRM = "ok"


class BalanceCallback(CallbackData, prefix="b"):
    action: BalanceAction
    page: Page = 0
    currency: Currency = ""


class RaceAction(StrEnum):
    LIST = "l"
    SHOW = "s"
    BOARD = "b"
    JOIN = "j"


class RaceCallback(CallbackData, prefix="r"):
    action: RaceAction
    race_id: Id = 0
    page: Page = 0


class FormAction(StrEnum):
    PICK = "p"
    SKIP = "k"
    BACK = "b"
    CANCEL = "c"
    CONFIRM = "ok"


class FormCallback(CallbackData, prefix="f"):
    """A button of a guided dialog (handlers/forms.py); `form` says which."""

    form: Word
    action: FormAction
    value: Annotated[str, Field(max_length=32, pattern=r"^[A-Za-z0-9_.-]*$")] = ""


class SettingsAction(StrEnum):
    LANGUAGE = "lang"
    SET_LANGUAGE = "sl"
    NOTIFY = "n"
    NOTIFICATIONS = "ns"  # the categories of news
    ZONE = "tz"  # the time zone picker
    SET_ZONE = "stz"  # value: the index of one of the common zones


class SettingsCallback(CallbackData, prefix="st"):
    action: SettingsAction
    value: Word = ""


class ConfirmCallback(CallbackData, prefix="cf"):
    """Yes or No on a destructive admin command (handlers/admin/confirm.py)."""

    token: Annotated[str, Field(min_length=8, max_length=8, pattern=r"^[0-9a-f]{8}$")]
    yes: bool = False


class AdminAction(StrEnum):
    HOME = "h"
    COMMANDS = "cmd"
    AFFILIATES = "a"
    CARD = "c"
    BAN = "ban"
    UNBAN = "unb"
    PAYOUTS = "p"
    PAY_OK = "pok"
    PAY_NO = "pno"
    TO_PAY = "tp"
    PAID = "pd"
    REVIEWS = "v"
    POSTBACKS = "pb"
    POSTBACK_LOG = "pbl"
    TEST_FIRE = "tf"
    AUDIT = "au"
    ADMINS = "ad"
    PROMOTE = "pro"
    DEMOTE = "dem"
    OFFERS = "o"
    OFFER = "of"
    OFFER_TOGGLE = "ot"
    OFFER_POSTBACK = "op"
    OFFER_ROTATE = "or"
    REVIEW_OK = "vok"
    REVIEW_NO = "vno"
    RACES = "r"
    RACE_END = "re"
    RACE_CANCEL = "rx"
    STATS = "s"
    STATS_CHART = "sc"
    BROADCAST = "b"
    BC_SKIP = "bs"
    BC_AUDIENCE = "ba"
    BC_RACES = "br"
    BC_SEND = "bgo"
    BC_PAUSE = "bp"
    BC_RESUME = "bre"
    BC_CANCEL = "bx"
    EXPORT = "e"
    REFERRER = "rf"
    OFFER_NEW = "on"
    OFFER_EDIT = "oe"  # page: the field's index in keyboards.admin.OFFER_FIELDS
    RATE = "rt"
    EXPORT_KIND = "ek"


class AdminCallback(CallbackData, prefix="adm"):
    """The admin panel's buttons. `id` is what the action is about: an affiliate, a payout
    request, an offer, or a Telegram id (admins)."""

    action: AdminAction
    id: Annotated[int, Field(ge=0, le=2**53)] = 0
    page: Page = 0

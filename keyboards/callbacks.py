"""CallbackData factories: short prefixes, StrEnum actions, ids only."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


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
    link_id: int = 0  # 0: the affiliate's own bot link
    label: str = ""


class StatsCallback(CallbackData, prefix="sx"):
    period: str = "today"
    chart: bool = False


class BalanceAction(StrEnum):
    SHOW = "s"
    HISTORY = "h"
    PAYOUT = "p"
    CONFIRM = "ok"


class BalanceCallback(CallbackData, prefix="b"):
    action: BalanceAction
    page: int = 0
    currency: str = ""


class RaceAction(StrEnum):
    LIST = "l"
    SHOW = "s"
    BOARD = "b"
    JOIN = "j"


class RaceCallback(CallbackData, prefix="r"):
    action: RaceAction
    race_id: int = 0
    page: int = 0


class RaceFormAction(StrEnum):
    PICK = "p"
    SKIP = "k"
    BACK = "b"
    CANCEL = "c"
    CONFIRM = "ok"


class RaceFormCallback(CallbackData, prefix="rf"):
    action: RaceFormAction
    value: str = ""


class SettingsAction(StrEnum):
    LANGUAGE = "lang"
    SET_LANGUAGE = "sl"
    NOTIFY = "n"


class SettingsCallback(CallbackData, prefix="st"):
    action: SettingsAction
    value: str = ""

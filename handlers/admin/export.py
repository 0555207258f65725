"""The panel's Export: CSV files of affiliates, clicks, conversions, the ledger and race
results, sent as documents. Written to a temporary folder as the rows stream in (never all
in memory) and uploaded from there; gzipped or split when over Telegram's 50 MB."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, FSInputFile
from aiogram.utils.chat_action import ChatActionSender
from aiogram.utils.i18n import gettext as _

from bot.services.admin_desk import AdminDesk
from bot.services.audit import Actor
from bot.services.exports import Export, ExportFile, ExportKind, ExportService
from handlers.common import show
from keyboards.admin import export_kb
from keyboards.callbacks import AdminAction, AdminCallback
from models import Affiliate

KINDS = list(ExportKind)


def kind_names() -> list[str]:
    return [
        _("👥 Affiliates"),
        _("🖱 Clicks, 7 days"),
        _("🖱 Clicks, 30 days"),
        _("🎯 Conversions"),
        _("📒 Ledger"),
        _("🏁 Race results"),
    ]


async def open_export(query: CallbackQuery) -> None:
    text = _(
        "📤 <b>Export</b>\n\nA CSV file (UTF-8, a header row, money as decimals, times in "
        "UTC) sent here as a document. Over Telegram's 50 MB it comes gzipped, in parts if "
        "need be."
    )
    await show(query, text, export_kb(kind_names()))


def caption(export: Export, part: ExportFile, count: int) -> str:
    text = _("{name}: {rows} rows").format(name=part.path.name, rows=part.rows)
    if export.gzipped:
        text += "\n" + _("Gzipped: as plain CSV it is over Telegram's 50 MB.")
        if count > 1:
            text += " " + _("In {count} parts, each with the header row.").format(count=count)
    return text


async def export(
    query: CallbackQuery,
    callback_data: AdminCallback,
    exports: ExportService,
    desk: AdminDesk,
    user: Affiliate,
    bot: Bot,
) -> None:
    kind = KINDS[min(callback_data.id, len(KINDS) - 1)]
    await query.answer(_("Preparing the file…"))
    folder = Path(tempfile.mkdtemp(prefix="affrace-export-"))
    try:
        async with ChatActionSender.upload_document(bot=bot, chat_id=user.tg_id):
            done = await exports.write(kind, folder)
            for part in done.files:
                await bot.send_document(
                    user.tg_id,
                    FSInputFile(part.path, filename=part.path.name),  # streamed from disk
                    caption=caption(done, part, len(done.files)),
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    await desk.audit.record(
        Actor.of(user), "export", kind.value, None, {"rows": done.rows, "files": len(done.files)}
    )


def router() -> Router:
    """The panel's Export (the parent router lets admins in)."""
    r = Router(name=__name__)
    r.callback_query.register(open_export, AdminCallback.filter(F.action == AdminAction.EXPORT))
    r.callback_query.register(export, AdminCallback.filter(F.action == AdminAction.EXPORT_KIND))
    return r

"""Catalogues in locales/ compiled by the app itself at start (Babel), so no manual step."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
LANGUAGES = ("en", "ru")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}


def compile_catalogues(path: Path = LOCALES_DIR) -> list[Path]:
    """Write each .mo beside its .po when the .po is newer; return what was written."""
    written = []
    for po_path in sorted(path.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po:
            catalog = read_po(po, locale=po_path.parent.parent.name)
        with mo_path.open("wb") as mo:
            write_mo(mo, catalog)
        written.append(mo_path)
    return written


def pick_language(stored: str | None, telegram_code: str | None) -> str:
    """The user's chosen language, else their Telegram one when we speak it, else English."""
    if stored in LANGUAGES:
        return stored
    if telegram_code:
        base = telegram_code.split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return DEFAULT_LANGUAGE


SOURCE_DIRS = ("bot", "handlers", "keyboards", "scheduler")
WEBAPP_DIR = "webapp"
KEYWORDS = {"_": None, "__": None, "N_": None, "gettext": None, "ngettext": (1, 2)}


def extract_messages(root: Path = LOCALES_DIR.parent) -> Catalog:
    """Every message id the code uses, straight from the source (Babel's extractor)."""
    catalog = Catalog(domain=DOMAIN)
    for folder in SOURCE_DIRS:
        for filename, _lineno, message, _comments, _ctx in extract_from_dir(
            root / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            catalog.add(message, locations=[(f"{folder}/{filename}", 0)])
    # The Mini App's strings: _("...") calls in its scripts (not the test stub in dev/).
    for filename, _lineno, message, _comments, _ctx in extract_from_dir(
        root / WEBAPP_DIR,
        method_map=[("dev/**", "ignore"), ("**.js", "javascript")],
        keywords={"_": None},
    ):
        catalog.add(message, locations=[(f"{WEBAPP_DIR}/{filename}", 0)])
    return catalog


def webapp_messages(language: str, path: Path = LOCALES_DIR) -> dict[str, str]:
    """The Mini App's strings in `language` ({English id: text}), read from the same
    catalogues as the bot's: one source for every string."""
    po_path = path / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_path.open("rb") as po:
        catalog = read_po(po, locale=language)
    return {
        str(m.id): str(m.string or m.id)
        for m in catalog
        if m.id
        and isinstance(m.id, str)
        and any(where.startswith(f"{WEBAPP_DIR}/") for where, _line in m.locations)
    }


def _fill(catalog: Catalog, language: str) -> list[str]:
    """English gets its own text; the ids still untranslated in `language`."""
    untranslated = []
    for message in catalog:
        if not message.id:
            continue
        if language == DEFAULT_LANGUAGE and (not message.string or isinstance(message.id, tuple)):
            message.string = message.id
        if not message.string or (isinstance(message.string, tuple) and not all(message.string)):
            untranslated.append(str(message.id))
    return untranslated


def update_catalogues(
    path: Path = LOCALES_DIR, changed: list[Path] | None = None
) -> dict[str, list[str]]:
    """Merge new ids into each .po (English gets its own text); return the untranslated. A
    catalogue whose messages did not change is left as it is (its dates too); the files that
    were rewritten are added to `changed`."""
    missing: dict[str, list[str]] = {}
    for language in LANGUAGES:
        template = extract_messages()  # fresh each time: update() shares its messages
        po_path = path / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        po_path.parent.mkdir(parents=True, exist_ok=True)
        before = po_path.read_bytes() if po_path.exists() else None
        if before is not None:
            catalog = read_po(io.BytesIO(before), locale=language)
        else:
            catalog = Catalog(locale=language, domain=DOMAIN)
        created = catalog.creation_date
        catalog.update(template, no_fuzzy_matching=True)
        if before is not None:
            catalog.creation_date = created  # not today's date on every run
        catalog.fuzzy = False
        catalog.project = "Affrace"
        catalog.obsolete.clear()
        missing_here = _fill(catalog, language)
        if missing_here:
            missing[language] = missing_here
        out = io.BytesIO()
        write_po(out, catalog, omit_header=False, include_lineno=False, width=0)
        if out.getvalue() != before:
            po_path.write_bytes(out.getvalue())
            if changed is not None:
                changed.append(po_path)
    return missing

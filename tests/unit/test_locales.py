import re
import shutil
from pathlib import Path

from babel.messages.pofile import read_po

from bot.i18n import LANGUAGES, LOCALES_DIR, extract_messages

PLACEHOLDER = re.compile(r"\{[a-z_]*\}")


def catalogue(language: str):  # type: ignore[no-untyped-def]
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=language)


def test_every_message_id_is_translated_in_every_language() -> None:
    used = {m.id for m in extract_messages() if m.id}

    for language in LANGUAGES:
        translated = {
            m.id
            for m in catalogue(language)
            if m.id
            and m.string
            and (not isinstance(m.string, tuple) or all(m.string))
            and not m.fuzzy
        }
        missing = sorted(str(i) for i in used - translated)
        assert not missing, f"{language} lacks {missing}"


def test_translations_keep_the_placeholders() -> None:
    for language in LANGUAGES:
        for message in catalogue(language):
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            wanted = set(PLACEHOLDER.findall(ids[-1]))
            for string in strings:
                assert set(PLACEHOLDER.findall(string)) == wanted, (language, message.id)


def test_updating_up_to_date_catalogues_changes_no_byte(tmp_path: Path) -> None:
    """`dev.py locales` with nothing new leaves the tree as it is (no rewritten dates)."""

    from bot.i18n import update_catalogues

    copy = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))
    before = {p: p.read_bytes() for p in copy.rglob("*.po")}
    changed: list[Path] = []

    update_catalogues(copy, changed=changed)

    assert changed == []
    assert {p: p.read_bytes() for p in copy.rglob("*.po")} == before

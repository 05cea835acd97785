"""Languages of the workspace (DESIGN §15): Chinese (zh-CN) and English, with Flask-Babel.

The language is the `lang` query parameter, else the `lang` cookie the language switch
sets, else the best match of the browser's Accept-Language, else English. The messages
are gettext catalogues, committed as `translations/<locale>/LC_MESSAGES/*.po` (one file per
owner: `messages.po` the frame and a manager's pages, `catalog.po` the shipped deduction
titles, others the other roles' pages), merged and compiled at start with Babel's own
`mofile` writer into a directory named by their hash, so a fresh clone (or a read-only
install) needs no build step and a changed .po is never served stale.

The deduction catalog's titles: a shipped rule set never changes, so its codes' Chinese
titles (the wording of seed 002) are messages of the catalogue keyed by their English
title; a later rule set may carry `title_zh` for its own codes, which wins.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request
from flask_babel import Babel, get_locale, gettext  # type: ignore[import-untyped]

from ledger.ruleset_document import DeductionRule

LANGUAGES = {"en": "English", "zh_CN": "中文"}
"""The locales offered, each named in its own language (what the switch shows)."""
DEFAULT = "en"
COOKIE = "lang"
TRANSLATIONS = Path(__file__).parent / "translations"
DOMAIN = "messages"


def register_languages(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled_translations())
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals.update(languages=LANGUAGES, current_language=current_language,
                                 rule_title=rule_title)


def select_locale() -> str:
    for asked in (request.args.get(COOKIE), request.cookies.get(COOKIE)):
        if asked in LANGUAGES:
            return asked
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"])
    return "zh_CN" if best and best.startswith("zh") else DEFAULT


def translated(message: str, **values: object) -> str:
    """gettext in the page's language (Flask-Babel's own, typed)."""
    return str(gettext(message, **values))


def current_language() -> str:
    """The page's language as LANGUAGES names it."""
    locale = get_locale()
    return "zh_CN" if locale is not None and locale.language == "zh" else DEFAULT


def rule_title(rule: DeductionRule | None, code: str) -> str:
    """A catalog entry's title in the page's language."""
    if rule is None:
        return code
    title_zh = getattr(rule, "title_zh", None)
    if current_language() == "zh_CN" and title_zh:
        return str(title_zh)
    return translated(rule.title)


def compiled_translations() -> Path:
    """A directory holding every committed .po compiled to .mo (built once per catalogue
    content; workers racing to build it each write their own file and rename it into
    place, so none reads a half-written one)."""
    sources = sorted(TRANSLATIONS.glob("*/LC_MESSAGES/*.po"))
    fingerprint = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    target = _private_cache() / f"translations-{fingerprint}"
    for locale in sorted({source.parts[-3] for source in sources}):
        # Babel reads "zh_CN" as zh_Hans_CN, and looks for the catalogue under that name.
        compiled = target / str(Locale.parse(locale)) / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if not compiled.exists():
            _compile(locale, [s for s in sources if s.parts[-3] == locale], compiled)
    return target


def _private_cache() -> Path:
    """A directory of this user's own under the temporary directory. Translated messages
    are trusted as markup by Jinja, so a catalogue another local user planted must never be
    read: a directory that is not ours alone is replaced by a fresh private one."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    cache = Path(tempfile.gettempdir()) / f"cm-ledger-{uid}"
    try:
        cache.mkdir(mode=0o700, exist_ok=True)
        info = cache.lstat()
    except OSError:
        return Path(tempfile.mkdtemp(prefix="cm-ledger-"))
    private = stat.S_ISDIR(info.st_mode) and not info.st_mode & 0o077
    if not private or (hasattr(os, "getuid") and info.st_uid != uid):
        return Path(tempfile.mkdtemp(prefix="cm-ledger-"))
    return cache


def _compile(locale: str, sources: list[Path], compiled: Path) -> None:
    """One catalogue of the locale's .po files (the first file's header), written as .mo."""
    merged: Catalog | None = None
    for source in sources:
        with source.open("rb") as po:
            catalog = read_po(po, locale=locale)
        if merged is None:
            merged = catalog
            continue
        for message in catalog:
            if message.id:
                merged[message.id] = message
    compiled.parent.mkdir(parents=True, exist_ok=True)
    partial = compiled.with_suffix(f".{os.getpid()}.tmp")
    with partial.open("wb") as mo:
        write_mo(mo, merged or Catalog(locale=locale))
    partial.replace(compiled)

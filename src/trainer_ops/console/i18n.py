"""The console's languages: JSON message catalogues under locales/<lang>/ (one file per page, merged;
a key belongs to one file only), and the choice of language from the operator's cookie or Accept-Language.

JSON rather than gettext .po/.mo (Babel): the console has a few dozen strings, keyed by name; a .mo file
is a compiled artefact that would need Babel at build time or a committed binary kept in step with its
source. A JSON catalogue is read as is, and tests/unit/console/test_i18n.py holds every language to the
same keys and placeholders. Moving to gettext later means converting two flat files.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

LANGUAGES = ("en", "ko")
DEFAULT = "en"
COOKIE = "trainer_ops_lang"


@dataclass(frozen=True)
class Catalogues:
    messages: dict[str, dict[str, str]]

    @classmethod
    def load(cls, root: Traversable | None = None) -> Catalogues:
        root = root or files("trainer_ops.console") / "locales"
        messages: dict[str, dict[str, str]] = {}
        for lang in LANGUAGES:
            merged: dict[str, str] = {}
            parts = sorted((root / lang).iterdir(), key=lambda part: part.name)
            for part in (p for p in parts if p.name.endswith(".json")):
                found = json.loads(part.read_text("utf-8"))
                twice = merged.keys() & found.keys()
                if twice:
                    raise ValueError(
                        f"locales/{lang}/{part.name} repeats keys of another file: {sorted(twice)}"
                    )
                merged.update(found)
            messages[lang] = merged
        return cls(messages)

    def translate(self, lang: str, key: str, **values: object) -> str:
        """The message `key` in `lang` (English when missing there), its {placeholders} filled."""
        # A missing key shows itself rather than failing the page; tests keep the catalogues complete.
        text = self.messages.get(lang, {}).get(key) or self.messages[DEFAULT].get(key, key)
        return _FORMATTER.vformat(text, (), values) if values else text


class _Messages(string.Formatter):
    """str.format, plus a plural choice for languages that inflect: `{count:one|many}` gives `one` when
    count is 1, else `many` ("{count} {count:approval|approvals}"). Korean needs none."""

    def format_field(self, value: object, format_spec: str) -> str:
        if "|" in format_spec:
            one, _, many = format_spec.partition("|")
            return one if value == 1 else many
        return str(super().format_field(value, format_spec))


_FORMATTER = _Messages()


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The operator's language: the cookie they chose, else the best of Accept-Language, else English."""
    if cookie in LANGUAGES:
        return cookie
    best, best_q = DEFAULT, 0.0
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        q = _quality(params)
        # Strictly greater: of equal weights the earlier wins, as the header lists them by preference.
        if primary in LANGUAGES and q > best_q:
            best, best_q = primary, q
    return best


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip() == "q":
            try:
                return max(0.0, min(1.0, float(value)))
            except ValueError:
                return 0.0
    return 1.0

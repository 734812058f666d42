"""The console's message catalogues and the choice of language."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import pytest

from trainer_ops.access.types import Role
from trainer_ops.console.i18n import LANGUAGES, Catalogues, choose

CATALOGUES = Catalogues.load()
TEMPLATES = files("trainer_ops.console") / "templates"


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_the_same_keys_and_placeholders() -> None:
    english = CATALOGUES.messages["en"]
    for lang in LANGUAGES:
        messages = CATALOGUES.messages[lang]
        assert set(messages) == set(english), lang
        for key, text in messages.items():
            assert text.strip(), (lang, key)
            assert placeholders(text) == placeholders(english[key]), (lang, key)


def _templates(folder: Traversable) -> Iterator[Traversable]:
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _templates(entry)
        elif entry.name.endswith(".html"):
            yield entry


def test_every_literal_key_the_templates_use_is_in_the_catalogue() -> None:
    used: set[str] = set()
    for template in _templates(TEMPLATES):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']\s*[,)]""", template.read_text("utf-8")))
    assert used
    assert used <= set(CATALOGUES.messages["en"]), used - set(CATALOGUES.messages["en"])


def test_every_role_status_and_language_the_templates_compose_a_key_for_is_in_the_catalogue() -> None:
    keys = set(CATALOGUES.messages["en"])
    assert {f"role.{role.value}" for role in Role} <= keys
    assert {"status.ok", "status.degraded", "status.down"} <= keys
    assert {f"language.{lang}" for lang in LANGUAGES} <= keys


def test_a_key_in_two_files_of_one_language_is_refused(tmp_path: Path) -> None:
    for lang in LANGUAGES:
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "a.json").write_text('{"x.y": "1"}', "utf-8")
        (tmp_path / lang / "b.json").write_text('{"x.y": "2"}', "utf-8")
    with pytest.raises(ValueError, match="repeats keys"):
        Catalogues.load(tmp_path)


def test_translate_fills_placeholders_and_falls_back_to_english_then_the_key() -> None:
    catalogues = Catalogues({"en": {"a": "{n} h", "only.en": "x"}, "ko": {"a": "{n}시간"}})
    assert catalogues.translate("ko", "a", n=3) == "3시간"
    assert catalogues.translate("ko", "only.en") == "x"
    assert catalogues.translate("ko", "missing.key") == "missing.key"


def test_a_plural_choice_follows_the_count_and_other_specs_still_format() -> None:
    catalogues = Catalogues(
        {
            "en": {"a": "needs {count} {count:approval|approvals}", "b": "{ms:.1f} ms"},
            "ko": {"a": "승인 {count}건"},
        }
    )
    assert [catalogues.translate("en", "a", count=n) for n in (0, 1, 2)] == [
        "needs 0 approvals",
        "needs 1 approval",
        "needs 2 approvals",
    ]
    assert catalogues.translate("ko", "a", count=2) == "승인 2건"
    assert catalogues.translate("en", "b", ms=2.25) == "2.2 ms"


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, "en"),
        (None, "ko", "ko"),
        (None, "ko-KR,ko;q=0.9,en-US;q=0.8", "ko"),
        (None, "en;q=0.5, ko;q=0.9", "ko"),
        (None, "en, ko", "en"),
        (None, "fr, de;q=0.5", "en"),
        (None, "ko;q=0", "en"),
        (None, "ko;q=abc", "en"),
        ("ko", "en", "ko"),
        ("xx", "ko", "ko"),
    ],
)
def test_the_language_is_the_cookie_else_the_best_accepted_else_english(
    cookie: str | None, header: str | None, expected: str
) -> None:
    assert choose(cookie, header) == expected


def test_every_reason_the_catalogue_explains_is_a_reason_the_server_has() -> None:
    # `reason.<code>` words a server refusal for operators; a typo would silently never be used.
    table = (Path(__file__).parents[3] / "docs" / "adr" / "0002-error-model.md").read_text("utf-8")
    known = set(re.findall(r"^\s*\| `([a-z_]+\.[a-z_.]+)` \|", table, flags=re.M))
    assert known
    explained = {
        key.removeprefix("reason.") for key in CATALOGUES.messages["en"] if key.startswith("reason.")
    }
    assert explained - known == set()

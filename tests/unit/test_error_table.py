"""ADR 0002's table of reasons against the code: every problem src/ can raise (found with `ast`) is in
the table with its class's status, Step 1 code and fault, and every row is raised somewhere."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from trainer_ops.errors import REASON_PATTERN, STEP1_CODE_OF_STATUS, TrainerOpsError

from .error_sites import COMPUTED, Site, class_modules, sites

ADR = Path(__file__).resolve().parents[2] / "docs" / "adr" / "0002-error-model.md"
ROW = re.compile(r"^\s*\| `([^`]+)` \| (\d{3}) \| ([A-Z_]+) \| ([^|]+?) \| ([^|]+?) \|\s*$")
FAULTS = {"yes": True, "no": False}


@dataclass(frozen=True)
class Row:
    status: int
    code: str
    fault: str  # yes, no, or a condition (for a fault decided at the raise site)


def table() -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for line in ADR.read_text().splitlines():
        if match := ROW.match(line):
            reason, status, code, fault, _when = match.groups()
            assert reason not in rows, f"ADR 0002 lists {reason} twice"
            rows[reason] = Row(int(status), code, fault.strip())
    return rows


def error_class(name: str) -> type[TrainerOpsError]:
    cls = getattr(importlib.import_module(class_modules()[name]), name)
    assert issubclass(cls, TrainerOpsError)
    return cls


TABLE = table()
SITES = sites()


def test_the_table_and_the_scan_both_found_something() -> None:
    assert len(TABLE) > 50
    assert len(SITES) > 80


@pytest.mark.parametrize("site", SITES, ids=lambda s: f"{s.reason}@{s.where}")
def test_every_raised_reason_is_a_token_in_the_table_with_its_status_code_and_fault(site: Site) -> None:
    assert re.match(REASON_PATTERN, site.reason), f"{site.where}: {site.reason!r} is not a dotted token"
    assert site.reason in TABLE, f"{site.where}: {site.reason} is not in ADR 0002's table"
    row, cls = TABLE[site.reason], error_class(site.cls)
    assert (row.status, row.code) == (cls.status, STEP1_CODE_OF_STATUS[cls.status]), site
    if site.fault == COMPUTED:
        assert row.fault not in FAULTS, f"{site.where}: the fault is decided when raised; say when"
    else:
        fault = cls.fault if site.fault is None else site.fault
        assert FAULTS.get(row.fault) is fault, f"{site.where}: {site.reason} is fault={fault}"


def test_every_row_of_the_table_is_raised_somewhere() -> None:
    raised = {site.reason for site in SITES}
    assert sorted(set(TABLE) - raised) == []


def test_every_step1_code_in_the_table_is_the_code_of_its_status() -> None:
    for reason, row in TABLE.items():
        assert STEP1_CODE_OF_STATUS.get(row.status) == row.code, reason

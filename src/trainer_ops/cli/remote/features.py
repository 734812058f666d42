"""`trainer-ops features list | get | set | create | history`: feature toggles, globally or for a place
(`--region`, or `--place` for any region, country or branch; ADR 0027)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trainer_ops.cli.remote.documents import add_history
from trainer_ops.cli.remote.output import (
    EXIT_USAGE,
    Format,
    JsonOption,
    OutputOption,
    api,
    chosen,
    emit,
    fail,
    out,
    pairs,
    table_of,
)
from trainer_ops.cli.remote.writes import (
    ApplyAtOption,
    BypassOption,
    IfMatchOption,
    accepted,
    preconditions,
)

FEATURES = "/operator/ops/features"
features_app = typer.Typer(help="List, read, switch and create feature toggles.", no_args_is_help=True)
KeyArgument = Annotated[str, typer.Argument(help="the feature key, e.g. quiz_auto_generate")]
RegionOption = Annotated[
    str | None, typer.Option("--region", help="a region: its effective values, or its override")
]
PlaceOption = Annotated[
    str | None,
    typer.Option(
        "--place",
        help="a region, country or branch: its effective values (most specific wins), or its override",
    ),
]
SWITCH = {"on": True, "true": True, "enable": True, "off": False, "false": False, "disable": False}


@features_app.command("list")
def list_features(
    ctx: typer.Context,
    region: RegionOption = None,
    place: PlaceOption = None,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Every feature and whether it is on (with --region or --place, that place's effective values)."""
    with api(ctx) as client:
        body = client.get(FEATURES, region=region, place=place).json()
    where = place or region
    emit(
        body,
        chosen(output, as_json),
        lambda values: table_of(
            ["feature", f"enabled in {where}" if where else "enabled"],
            [[key, value] for key, value in values.items()],
        ),
    )


@features_app.command("get")
def get_feature(
    ctx: typer.Context,
    key: KeyArgument,
    region: RegionOption = None,
    place: PlaceOption = None,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """One feature: its default, whether places may override it, and the overrides."""
    with api(ctx) as client:
        body = client.get(f"{FEATURES}/{key}", region=region, place=place).json()
    emit(body, chosen(output, as_json), pairs)


@features_app.command("set")
def set_feature(
    ctx: typer.Context,
    key: KeyArgument,
    state: Annotated[
        str | None, typer.Argument(help="on or off (true/false); with --region and --unset, leave it out")
    ] = None,
    region: RegionOption = None,
    place: PlaceOption = None,
    unset: Annotated[
        bool,
        typer.Option("--unset", help="with --region or --place: remove the override (follow the parent's)"),
    ] = False,
    description: Annotated[str | None, typer.Option(help="a new description (admins)")] = None,
    region_overridable: Annotated[
        bool | None,
        typer.Option("--region-overridable/--not-region-overridable", help="may regions override it"),
    ] = None,
    if_match: IfMatchOption = None,
    apply_at: ApplyAtOption = None,
    bypass_reason: BypassOption = None,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Switch a feature on or off: the global default, or with --region/--place that place's override."""
    changes = _changes(state, unset=unset, place=place or region)
    if description is not None:
        changes["description"] = description
    if region_overridable is not None:
        changes["regionOverridable"] = region_overridable
    if not changes:
        raise fail("nothing to set: give on or off, --unset, --description or --region-overridable", 2)
    with api(ctx) as client:
        current = client.get(FEATURES, region=region)
        response = client.call(
            "PATCH",
            f"{FEATURES}/{key}",
            json=changes,
            params={"region": region, "place": place, "applyAt": apply_at},
            headers=preconditions(current, if_match, bypass_reason),
        )
    fmt = chosen(output, as_json)
    if not accepted(response, fmt):
        emit(response.json(), fmt, lambda body: _switched(body, response))


def _changes(state: str | None, *, unset: bool, place: str | None) -> dict[str, Any]:
    if unset:
        if place is None or state is not None:
            raise fail(
                "--unset removes a place's override: give --region or --place and no on/off", EXIT_USAGE
            )
        return {"enabled": None}
    if state is None:
        return {}
    if state.lower() not in SWITCH:
        raise fail(f"{state!r}: say on or off", EXIT_USAGE)
    return {"enabled": SWITCH[state.lower()]}


def _switched(body: dict[str, Any], response: Any) -> None:
    named = body.get("place") or body.get("region")
    where = f" in {named}" if named else ""
    state = "on" if body.get("enabled") else "off"
    version = response.headers.get("etag", "?").strip('"')
    out.print(f"{body.get('key')} is {state}{where} (features at version {version})")


@features_app.command("create")
def create_feature(
    ctx: typer.Context,
    key: KeyArgument,
    enabled: Annotated[bool, typer.Option("--on/--off", help="its value at first")] = False,
    region_overridable: Annotated[
        bool, typer.Option("--region-overridable", help="regions may override it")
    ] = False,
    description: Annotated[str, typer.Option(help="what it switches")] = "",
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Add a feature toggle (admins); refused (409) if the key exists."""
    body = {
        "key": key,
        "enabled": enabled,
        "regionOverridable": region_overridable,
        "description": description,
    }
    with api(ctx) as client:
        created = client.call("POST", FEATURES, json=body).json()
    emit(created, chosen(output, as_json), pairs)


add_history(features_app, FEATURES, "Every version of the toggles, newest first.")

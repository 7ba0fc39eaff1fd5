"""Configuration: every shared vector gives exactly its documented errors; schemas are current and
agree with the models; the shipped files validate."""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrt.config import ConfigError, load_appliance, load_risk_limits
from pyrt.config.issues import CODES
from pyrt.config.load import check_appliance, check_file, check_risk_limits, kind_of
from pyrt.config.models import RiskLimitsConfig
from pyrt.config.schema import SCHEMA_DIR, stale

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "config" / "vectors"
VALID = sorted((VECTORS / "valid").glob("*.toml"))
INVALID = sorted((VECTORS / "invalid").glob("*.toml"))


def check(path: Path) -> set[tuple[str, str]]:
    checker = check_risk_limits if kind_of(path) == "risk" else check_appliance
    _, issues = checker(path)
    return {(i.path, i.code) for i in issues}


def expected(path: Path) -> set[tuple[str, str]]:
    doc = json.loads(path.with_name(path.stem + ".expected.json").read_text())
    return {(e["path"], e["code"]) for e in doc["errors"]}


def test_there_are_enough_vectors_to_cover_every_code() -> None:
    assert len(VALID) >= 5
    assert len(INVALID) >= 20
    used = set().union(*(expected(p) for p in INVALID))
    assert {code for _, code in used} == CODES - {"file"}


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_vectors_load(path: Path) -> None:
    assert check(path) == set()


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_vectors_give_exactly_their_documented_errors(path: Path) -> None:
    assert check(path) == expected(path)


def schema_for(path: Path) -> dict[str, object]:
    name = "risk_limits" if kind_of(path) == "risk" else "appliance"
    loaded: dict[str, object] = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    return loaded


def schema_can_express(path: str, code: str, data: dict[str, object]) -> bool:
    """Cross-field rules, dictionary keys and "greater than zero" on decimal strings are checked
    after the schema, by the models and rules; everything else the schema states itself."""
    if code in {"conflict", "not_power_of_two", "toml_syntax"}:
        return False
    parts = path.split(".")
    if code == "pattern" and len(parts) == 2 and parts[0] == "symbols":
        return False
    value: object = data
    for part in parts:
        value = value.get(part) if isinstance(value, dict) else None
    return not (code == "too_small" and isinstance(value, str))


@pytest.mark.parametrize("path", VALID + INVALID, ids=[p.stem for p in VALID + INVALID])
def test_the_json_schema_agrees_with_the_models(path: Path) -> None:
    """The checked-in schema accepts every valid vector and rejects every invalid one whose errors
    it can express, at the same paths."""
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError:
        return
    errors = list(jsonschema.Draft202012Validator(schema_for(path)).iter_errors(data))
    if path.parent.name == "valid":
        assert errors == []
        return
    expressible = {(p, c) for p, c in expected(path) if schema_can_express(p, c, data)}
    if not expressible:
        return
    flagged = {".".join(str(x) for x in e.absolute_path) for e in errors}
    # additionalProperties and required are reported on the parent object.
    for p, code in expressible:
        parent = p.rsplit(".", 1)[0] if "." in p else ""
        assert p in flagged or (code in {"unknown_field", "missing"} and parent in flagged), (
            f"{path.name}: schema does not flag {p} ({code}); it flags {sorted(flagged)}"
        )


def test_schemas_are_not_stale() -> None:
    assert stale() == [], "run: python -m pyrt.config.schema --write"


def test_shipped_configuration_validates_with_its_risk_file() -> None:
    results = check_file(ROOT / "config" / "appliance.toml")
    assert len(results) == 2
    assert all(issues == [] for issues in results.values()), results
    config = load_appliance(ROOT / "config" / "appliance.toml")
    assert config.universe.symbols[0] == "AAPL"
    risk = load_risk_limits(ROOT / "config" / "risk_limits.toml")
    assert risk.symbols["AAPL"].max_position == Decimal("600")


def test_cross_file_rules(tmp_path: Path) -> None:
    appliance = (ROOT / "config" / "appliance.toml").read_text()
    risk = (ROOT / "config" / "risk_limits.toml").read_text()
    risk = risk.replace("[symbols.MSFT]", "[symbols.TSLA]")
    risk = risk.split("# For symbols of the universe")[0] + risk.split("[symbols.AAPL]", 1)[1].join(
        ["[symbols.AAPL]", ""]
    )
    (tmp_path / "appliance.toml").write_text(appliance)
    (tmp_path / "risk_limits.toml").write_text(risk)
    results = check_file(tmp_path / "appliance.toml")
    issues = {(i.path, i.code) for i in results[(tmp_path / "risk_limits.toml").resolve()]}
    assert ("symbols.TSLA", "conflict") in issues
    assert ("symbols.GOOGL", "missing") in issues


def test_load_raises_with_every_issue() -> None:
    with pytest.raises(ConfigError) as caught:
        load_appliance(VECTORS / "invalid" / "appliance_many_errors.toml")
    assert len(caught.value.issues) == 4
    assert "rings.md" in str(caught.value)


amounts = st.decimals(
    min_value=Decimal("0.000000001"), max_value=Decimal("999999999.999999999"), places=9
)


@given(amounts)
def test_any_nine_place_decimal_string_round_trips(value: Decimal) -> None:
    text = format(value, "f")
    config = RiskLimitsConfig.model_validate(
        {
            "global": {
                "max_gross_exposure": text,
                "max_net_exposure": text,
                "daily_loss_limit": text,
                "max_open_orders": 1,
                "max_orders_per_second": 1,
                "max_messages_per_second": 1,
                "price_collar_bps": 1,
            }
        }
    )
    assert config.global_.daily_loss_limit == value


@given(st.floats(min_value=0.01, max_value=1e9) | st.integers(min_value=1, max_value=10**9))
def test_numbers_are_never_accepted_as_amounts(value: float) -> None:
    with pytest.raises(ValueError, match="quoted decimal string"):
        RiskLimitsConfig.model_validate(
            {
                "global": {
                    "max_gross_exposure": value,
                    "max_net_exposure": "1",
                    "daily_loss_limit": "1",
                    "max_open_orders": 1,
                    "max_orders_per_second": 1,
                    "max_messages_per_second": 1,
                    "price_collar_bps": 1,
                }
            }
        )

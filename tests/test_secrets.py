"""Alpaca keys come from the environment or systemd credentials and never show up in text."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from pyrt.secrets import (
    AlpacaCredentials,
    MissingSecretError,
    have_alpaca_credentials,
    load_alpaca_credentials,
)

KEY = "PKTESTKEYID0123456789"
SECRET = "sEcReT-vAlUe-9f8e7d6c5b4a"
ROOT = Path(__file__).resolve().parents[1]


def test_loaded_from_the_environment_and_masked(caplog: pytest.LogCaptureFixture) -> None:
    creds = load_alpaca_credentials(environ={"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET})
    assert creds.key_id.get_secret_value() == KEY
    assert creds.secret_key.get_secret_value() == SECRET
    logging.getLogger("pyrt.test").warning(
        "credentials: %s %r %s", creds, creds, creds.model_dump()
    )
    shown = " ".join([repr(creds), str(creds), f"{creds}", str(creds.model_dump()), caplog.text])
    assert SECRET not in shown
    assert KEY not in shown
    assert "**********" in shown


def test_systemd_credentials_take_precedence(tmp_path: Path) -> None:
    (tmp_path / "APCA_API_KEY_ID").write_text(KEY + "\n")
    (tmp_path / "APCA_API_SECRET_KEY").write_text(SECRET)
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path), "APCA_API_SECRET_KEY": "from-env"}
    creds = load_alpaca_credentials(environ=env)
    assert creds.key_id.get_secret_value() == KEY
    assert creds.secret_key.get_secret_value() == SECRET


def test_missing_credentials_name_the_variable_never_a_value() -> None:
    with pytest.raises(MissingSecretError) as caught:
        load_alpaca_credentials(environ={"APCA_API_KEY_ID": KEY})
    message = str(caught.value)
    assert "APCA_API_SECRET_KEY" in message
    assert KEY not in message
    assert not have_alpaca_credentials("NOPE_KEY", "NOPE_SECRET")


def test_validation_errors_do_not_echo_secrets() -> None:
    with pytest.raises(ValueError, match="Extra inputs") as caught:
        AlpacaCredentials.model_validate({"key_id": KEY, "secret_key": SECRET, "extra": SECRET})
    assert SECRET not in str(caught.value)


def test_a_secret_pasted_into_config_is_refused_without_being_printed(tmp_path: Path) -> None:
    text = (ROOT / "config" / "appliance.toml").read_text()
    text = text.replace(
        'secret_key_env = "APCA_API_SECRET_KEY"',
        f'secret_key_env = "APCA_API_SECRET_KEY"\nsecret_key = "{SECRET}"',
    )
    path = tmp_path / "appliance.toml"
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "pyrt.cli", "config", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "broker.secret_key" in result.stdout
    assert SECRET not in result.stdout + result.stderr

"""Alpaca credentials: from the environment or systemd credentials, never from config files.

Values are held as pydantic ``SecretStr``: their repr and str are masked, and no error message or
log line built here contains them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr


class MissingSecretError(Exception):
    """A credential is not configured; the message names where it was looked for, never a value."""


class AlpacaCredentials(BaseModel):
    # Pydantic would otherwise quote the offending input in a ValidationError.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    key_id: SecretStr
    secret_key: SecretStr

    def __repr__(self) -> str:
        return "AlpacaCredentials(key_id='**********', secret_key='**********')"

    __str__ = __repr__


def _read(name: str, environ: dict[str, str]) -> str | None:
    # systemd's LoadCredential= puts each credential in a file under $CREDENTIALS_DIRECTORY.
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if directory:
        path = Path(directory) / name
        if path.is_file():
            return path.read_text(encoding="utf-8").strip() or None
    value = environ.get(name)
    return value.strip() if value and value.strip() else None


def load_alpaca_credentials(
    key_id_env: str = "APCA_API_KEY_ID",
    secret_key_env: str = "APCA_API_SECRET_KEY",  # noqa: S107 (a variable name)
    environ: dict[str, str] | None = None,
) -> AlpacaCredentials:
    """Reads both credentials; raises MissingSecretError naming what is missing."""
    env = dict(os.environ) if environ is None else environ
    key_id = _read(key_id_env, env)
    secret = _read(secret_key_env, env)
    missing = [n for n, v in ((key_id_env, key_id), (secret_key_env, secret)) if v is None]
    if missing or key_id is None or secret is None:
        raise MissingSecretError(
            "Alpaca credentials not configured: set "
            + " and ".join(missing)
            + " in the environment or as systemd credentials (LoadCredential=)"
        )
    return AlpacaCredentials(key_id=SecretStr(key_id), secret_key=SecretStr(secret))


def have_alpaca_credentials(key_id_env: str, secret_key_env: str) -> bool:
    """Whether real keys are configured (without them the appliance uses the simulator)."""
    try:
        load_alpaca_credentials(key_id_env, secret_key_env)
    except MissingSecretError:
        return False
    return True

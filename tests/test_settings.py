"""Settings fail closed outside dev and refuse unsafe combinations."""

from __future__ import annotations

from pathlib import Path

import pytest

from loantrace.domain.errors import ConfigurationError
from loantrace.settings import DEV_NOTARY_KEY, Settings

PROD = {
    "mode": "prod",
    "rpc_url": "http://127.0.0.1:8545",
    "database_url": "postgresql://db/loantrace",
    "notary_key": "0x" + "12" * 32,
    "registry_address": "0x" + "34" * 20,
    "data_key": "k" * 43 + "=",
    "master_keys": "k1:" + "a" * 43 + "=",
    "ledger_address": "0x" + "56" * 20,
    "fundflow_address": "0x" + "78" * 20,
}


def test_prod_mode_requires_every_secret_and_address() -> None:
    with pytest.raises(ConfigurationError, match="LOANTRACE_NOTARY_KEY"):
        Settings(**{**PROD, "notary_key": None})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="LOANTRACE_RPC_URL"):
        Settings(**{**PROD, "rpc_url": None})  # type: ignore[arg-type]
    assert Settings(**PROD).notary_key_hex() == "0x" + "12" * 32  # type: ignore[arg-type]


ANVIL_0 = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_9 = "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"


@pytest.mark.parametrize(
    "key",
    [
        DEV_NOTARY_KEY,
        DEV_NOTARY_KEY.removeprefix("0x").upper(),
        ANVIL_0,
        "0x" + ANVIL_0.upper(),
        "0X" + ANVIL_9,
        f"  0x{ANVIL_9}  ",
    ],
)
def test_prod_mode_refuses_every_well_known_development_key(key: str) -> None:
    with pytest.raises(ConfigurationError, match="well-known development key"):
        Settings(**{**PROD, "notary_key": key})  # type: ignore[arg-type]


def test_prod_mode_refuses_default_secrets() -> None:
    from loantrace.settings import _DEV_DATA_KEY

    with pytest.raises(ConfigurationError, match="development LOANTRACE_DATA_KEY"):
        Settings(**{**PROD, "data_key": _DEV_DATA_KEY.decode()})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="at least 32 characters"):
        Settings(**{**PROD, "admin_key": "short"})  # type: ignore[arg-type]


def test_embedded_chain_refuses_a_persistent_database() -> None:
    with pytest.raises(ConfigurationError, match="embedded chain"):
        Settings(mode="dev", rpc_url=None, database_url="sqlite:///./x.db")
    assert Settings(mode="dev", rpc_url=None).effective_database_url() == "sqlite://"


def test_settings_read_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOANTRACE_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("LOANTRACE_RPC_URL", "http://127.0.0.1:9")
    settings = Settings()
    assert settings.max_upload_bytes == 1234
    assert settings.effective_database_url() == "sqlite:///./loantrace.db"
    assert settings.notary_key_hex() == DEV_NOTARY_KEY


def test_secrets_can_come_from_files_and_never_both_ways(tmp_path: Path) -> None:
    files = {}
    for name, value in (
        ("data_key", "k" * 43 + "="),
        ("master_keys", "k1:" + "a" * 43 + "="),
        ("admin_key", "t" * 40),
    ):
        files[name] = tmp_path / name
        files[name].write_text(value + "\n")
    given = {k: v for k, v in PROD.items() if k not in ("data_key", "master_keys")}
    settings = Settings(
        **given,  # type: ignore[arg-type]
        data_key_file=files["data_key"],
        master_keys_file=files["master_keys"],
        admin_key_file=files["admin_key"],
    )
    assert settings.data_key_bytes() == ("k" * 43 + "=").encode()
    assert settings.master_keys_spec() == "k1:" + "a" * 43 + "="
    assert settings.admin_key is not None
    assert settings.admin_key.get_secret_value() == "t" * 40
    with pytest.raises(ConfigurationError, match="not both"):
        Settings(**PROD, data_key_file=files["data_key"])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="cannot read"):
        Settings(**given, data_key_file=tmp_path / "missing")  # type: ignore[arg-type]

"""Is the code on chain the code of this build, and is this build the code of the source?

Each contract's runtime code is compared with its artifact's `deployedBytecode`, the
immutables (values fixed by the constructor) masked. With the address book, the constructor
is re-run in a simulation (`eth_call` of the creation code with the book's arguments, the
deployer's nonce and an empty target account) so each immutable is also checked against the
value the recorded deployment must have set: a FundFlow of the right build pointing at
another ledger is a mismatch too. Optionally the artifacts are compared with a fresh compile.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from web3 import Web3

from loantrace.chain.addressbook import (
    CONTRACT_NAMES,
    AddressBook,
    DeployedContract,
    artifact_hashes,
)
from loantrace.chain.artifacts import load_artifact

log = logging.getLogger(__name__)


class Verdict(StrEnum):
    """How a contract's code on chain compares with the build."""

    MATCH = "match"
    NO_CODE = "no_code"
    LENGTH_DIFFERS = "length_differs"
    CODE_DIFFERS = "code_differs"
    IMMUTABLE_DIFFERS = "immutable_differs"
    NOT_THE_BOOKS_BUILD = "not_the_books_build"


class SourceVerdict(StrEnum):
    """How a committed artifact compares with a fresh compile of the source."""

    MATCH = "match"
    DIFFERS = "differs"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CodeCheck:
    """One contract on chain against its artifact."""

    contract: str
    address: str
    verdict: Verdict
    detail: str
    offset: int | None = None
    immutable: str | None = None

    @property
    def ok(self) -> bool:
        """Return whether the code is this build."""
        return self.verdict is Verdict.MATCH


@dataclass(frozen=True)
class SourceCheck:
    """One committed artifact against a fresh compile."""

    contract: str
    verdict: SourceVerdict
    detail: str


@dataclass(frozen=True)
class IntegrityReport:
    """Every check, and whether all of them hold."""

    chain_id: int
    code: tuple[CodeCheck, ...]
    source: tuple[SourceCheck, ...] = ()

    @property
    def ok(self) -> bool:
        """Return whether every contract matches and no artifact differs from its source."""
        return all(c.ok for c in self.code) and all(
            s.verdict is not SourceVerdict.DIFFERS for s in self.source
        )


def compare_code(
    name: str,
    address: str,
    code: bytes,
    artifact: dict[str, Any],
    expected: bytes | None = None,
) -> CodeCheck:
    """Compare runtime `code` with the artifact; `expected` (a simulated deployment's code)
    also pins the immutables' values."""
    build = bytes.fromhex(str(artifact["deployedBytecode"]).removeprefix("0x"))
    if not code:
        return CodeCheck(name, address, Verdict.NO_CODE, "no code at this address")
    if len(code) != len(build):
        detail = f"{len(code)} bytes on chain, {len(build)} in the build"
        return CodeCheck(name, address, Verdict.LENGTH_DIFFERS, detail)
    places = _immutables(artifact)
    masked = bytearray(len(build))
    for spans in places.values():
        for start, length in spans:
            masked[start : start + length] = b"\x01" * length
    for offset, (got, want) in enumerate(zip(code, build, strict=True)):
        if got != want and not masked[offset]:
            detail = f"first difference at byte {offset}: 0x{got:02x} on chain, 0x{want:02x} built"
            return CodeCheck(name, address, Verdict.CODE_DIFFERS, detail, offset=offset)
    names: dict[str, str] = artifact.get("immutableNames", {})
    for ref, spans in places.items():
        label = names.get(ref, f"immutable #{ref}")
        values = {code[start : start + length] for start, length in spans}
        if len(values) > 1:
            detail = f"{label} holds {len(values)} different values in its {len(spans)} places"
            return CodeCheck(
                name, address, Verdict.IMMUTABLE_DIFFERS, detail, spans[0][0], immutable=label
            )
        if expected is not None and len(expected) == len(code):
            start, length = spans[0]
            got_value, want_value = code[start : start + length], expected[start : start + length]
            if got_value != want_value:
                detail = (
                    f"{label} is {_word(got_value)} on chain; the recorded deployment sets "
                    f"{_word(want_value)}"
                )
                return CodeCheck(
                    name, address, Verdict.IMMUTABLE_DIFFERS, detail, start, immutable=label
                )
    how = "checked against the recorded deployment" if expected is not None else "masked"
    detail = f"{len(code)} bytes equal the build; immutables ({len(places)}) {how}"
    return CodeCheck(name, address, Verdict.MATCH, detail)


def check_chain(
    w3: Web3, addresses: Mapping[str, str], book: AddressBook | None = None
) -> tuple[CodeCheck, ...]:
    """Check each named contract's code on chain; with `book`, its immutables and build too."""
    checks = []
    for name in CONTRACT_NAMES:
        address = Web3.to_checksum_address(addresses[name])
        artifact = load_artifact(name)
        code = bytes(w3.eth.get_code(address))
        entry = book.contracts.get(name) if book is not None else None
        if entry is not None and entry.address != address:
            entry = None  # the book describes another deployment than the one in use
        if entry is not None and (
            entry.bytecode_sha256,
            entry.deployed_bytecode_sha256,
        ) != artifact_hashes(artifact):
            detail = "the artifact differs from the one the address book says was deployed"
            checks.append(CodeCheck(name, address, Verdict.NOT_THE_BOOKS_BUILD, detail))
            continue
        expected = None
        if entry is not None and book is not None and code:
            expected = simulated_runtime(w3, artifact, entry)
        checks.append(compare_code(name, address, code, artifact, expected))
    return tuple(checks)


def simulated_runtime(w3: Web3, artifact: dict[str, Any], entry: DeployedContract) -> bytes | None:
    """Re-run the recorded constructor in an `eth_call`; None when the node cannot."""
    address = Web3.to_checksum_address(entry.address)
    try:
        tx = w3.eth.get_transaction(entry.tx_hash)  # type: ignore[arg-type]
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        data = factory.constructor(*_tuples(entry.constructor_args)).data_in_transaction
        sender = Web3.to_checksum_address(str(tx["from"]))
        override: Any = {
            sender: {"nonce": int(tx["nonce"])},
            address: {"code": "0x", "nonce": 0, "state": {}},
        }
        result = w3.eth.call({"from": sender, "data": data}, "latest", override)
    except Exception as exc:  # a node without state overrides, a pruned transaction
        log.info("cannot simulate the deployment of %s: %s", address, type(exc).__name__)
        return None
    return bytes(result)


def check_sources(root: Path | None) -> tuple[SourceCheck, ...]:
    """Compare each committed artifact with a fresh compile (same EVM version), if possible."""
    from loantrace.chain.compiler import compile_artifacts, find_source_root
    from loantrace.domain.errors import ConfigurationError

    try:
        source_root = root or find_source_root()
        evm = load_artifact(CONTRACT_NAMES[0])["compiler"]["settings"]["evmVersion"]
        fresh = compile_artifacts(source_root, evm)
    except ConfigurationError as exc:
        first = str(exc).splitlines()[0]
        return tuple(SourceCheck(n, SourceVerdict.SKIPPED, first) for n in CONTRACT_NAMES)
    checks = []
    for name in CONTRACT_NAMES:
        committed, built = load_artifact(name), fresh.get(name, {})
        differing = [
            key
            for key in ("bytecode", "deployedBytecode", "abi", "compiler")
            if committed.get(key) != built.get(key)
        ]
        if differing:
            detail = f"{', '.join(differing)} differ from a fresh compile: run `loantrace compile`"
            checks.append(SourceCheck(name, SourceVerdict.DIFFERS, detail))
        else:
            checks.append(SourceCheck(name, SourceVerdict.MATCH, "equals a fresh compile"))
    return tuple(checks)


def _immutables(artifact: dict[str, Any]) -> dict[str, list[tuple[int, int]]]:
    return {
        ref: [(int(span["start"]), int(span["length"])) for span in spans]
        for ref, spans in artifact.get("immutableReferences", {}).items()
    }


def _word(value: bytes) -> str:
    """Show a 32-byte word, as an address when it holds one."""
    return "0x" + (value[12:] if len(value) == 32 and not any(value[:12]) else value).hex()


def _tuples(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_tuples(item) for item in value)
    return value

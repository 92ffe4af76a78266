"""Client of the AgreementRegistry contract: deploy, write, and read evidence back."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from web3 import Web3
from web3.contract import Contract

from loantrace.chain.artifacts import load_artifact
from loantrace.chain.errors import RevertDecoder
from loantrace.chain.transactor import Transactor, TxResult
from loantrace.domain.agreement import Agreement, Domain, SignedAgreement, agreement_id
from loantrace.domain.errors import ConfigurationError
from loantrace.domain.hexcodec import to_hex

ARTIFACT = "AgreementRegistry"
NOTARY_ROLE = Web3.keccak(text="NOTARY_ROLE")


class OnChainStatus(IntEnum):
    """Mirror of `IAgreementRegistry.Status`."""

    NONE = 0
    NOTARISED = 1
    SUPERSEDED = 2
    REVOKED = 3


@dataclass(frozen=True)
class Anchor:
    """A single record or a batch as stored on chain."""

    lender: str
    timestamp: int
    block_number: int


@dataclass(frozen=True)
class StatusOnChain:
    """The lifecycle of a digest as the contract reports it."""

    status: OnChainStatus
    successor: bytes
    reason: int


@dataclass(frozen=True)
class NotarisationLog:
    """An `AgreementNotarised` event: the signed agreement, its id, and where it is."""

    agreement_id: bytes
    signed: SignedAgreement
    tx_hash: str
    log_index: int
    block_number: int


@dataclass(frozen=True)
class BatchLog:
    """A `BatchAnchored` event: who anchored which root, and the manifest's SHA-256."""

    root: bytes
    lender: str
    count: int
    manifest_hash: bytes
    tx_hash: str
    block_number: int
    entry: Any


def revert_decoder() -> RevertDecoder:
    """Return a decoder for the custom errors of every loantrace contract."""
    abis = [load_artifact(name)["abi"] for name in (ARTIFACT, "LoanLedger", "FundFlow")]
    return RevertDecoder([item for abi in abis for item in abi])


def deploy_registry(transactor: Transactor, w3: Web3, *, admin: str) -> str:
    """Deploy a new AgreementRegistry administered by `admin`; return its address."""
    return transactor.deploy(load_artifact(ARTIFACT), admin)


def matches_build(code: bytes, artifact: dict[str, Any]) -> bool:
    """Return whether deployed `code` is this build, ignoring immutable values set at deploy."""
    expected = bytearray(bytes.fromhex(artifact["deployedBytecode"][2:]))
    if len(code) != len(expected):
        return False
    actual = bytearray(code)
    for references in artifact.get("immutableReferences", {}).values():
        for ref in references:
            start, length = int(ref["start"]), int(ref["length"])
            actual[start : start + length] = bytes(length)
            expected[start : start + length] = bytes(length)
    return actual == expected


class RegistryClient:
    """Typed calls to one deployed AgreementRegistry."""

    def __init__(self, w3: Web3, address: str, transactor: Transactor | None = None) -> None:
        """Bind to the registry at `address`; without a transactor the client only reads."""
        artifact = load_artifact(ARTIFACT)
        code = bytes(w3.eth.get_code(Web3.to_checksum_address(address)))
        if not matches_build(code, artifact):
            raise ConfigurationError(
                f"no AgreementRegistry of this build at {address} on chain {w3.eth.chain_id}"
            )
        self._w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=artifact["abi"])
        self._transactor = transactor
        self.domain = Domain(chain_id=int(w3.eth.chain_id), verifying_contract=self.address)

    @functools.cached_property
    def genesis_hash(self) -> str:
        """Return the hash of the chain's block 0, which names the chain beyond its id."""
        return to_hex(bytes(self._w3.eth.get_block(0)["hash"]))

    @property
    def transactor(self) -> Transactor:
        """Return the sender of this client's writes; a read-only client has none."""
        if self._transactor is None:
            raise ConfigurationError("this registry client is read-only: it sends nothing")
        return self._transactor

    # writes ---------------------------------------------------------------------------------

    def grant_notary(self, account: str) -> TxResult:
        """Grant NOTARY to a lender account (caller must be admin)."""
        return self.transactor.send(self.contract.functions.grantRole(NOTARY_ROLE, account))

    def set_loan_ledger(self, ledger: str) -> TxResult:
        """Set, once, the ledger whose open loans need the borrower's consent to revoke."""
        return self.transactor.send(self.contract.functions.setLoanLedger(ledger))

    def _intent(self, action: str, agreement: Agreement) -> str:
        """Name a write on one agreement, so a retry adopts the first transaction."""
        return f"{self.address}:{action}:{to_hex(self.agreement_id(agreement))}"

    def agreement_id(self, agreement: Agreement) -> bytes:
        """Return the agreement id (its EIP-712 hash in this registry's domain), computed here."""
        return agreement_id(agreement, self.domain)

    def notarise(self, signed: SignedAgreement, *, dry_run: bool = False) -> TxResult | None:
        """Notarise one agreement (or an amendment, when it names `supersedes`)."""
        agreement = _struct(signed.agreement)
        sigs = (signed.lender_signature, signed.borrower_signature)
        if any(signed.agreement.supersedes):
            call = self.contract.functions.supersede(signed.agreement.supersedes, agreement, *sigs)
        else:
            call = self.contract.functions.notarise(agreement, *sigs)
        if dry_run:
            self.transactor.preflight(call)
            return None
        return self.transactor.send(call, intent=self._intent("notarise", signed.agreement))

    def anchor_batch(
        self,
        root: bytes,
        count: int,
        manifest_hash: bytes = bytes(32),
        *,
        dry_run: bool = False,
    ) -> TxResult | None:
        """Anchor one Merkle root covering `count` agreements, with its manifest's SHA-256."""
        call = self.contract.functions.anchorBatch(root, count, manifest_hash)
        if dry_run:
            self.transactor.preflight(call)
            return None
        return self.transactor.send(call, intent=f"{self.address}:anchor:{to_hex(root)}")

    def revoke(self, agreement: Agreement, reason: int, borrower_consent: bytes = b"") -> TxResult:
        """Revoke a singly notarised agreement (the borrower's consent if it backs a loan)."""
        call = self.contract.functions.revoke(_struct(agreement), reason, borrower_consent)
        return self.transactor.send(call, intent=self._intent("revoke", agreement))

    def revoke_batched(
        self,
        root: bytes,
        signed: SignedAgreement,
        proof: Sequence[bytes],
        reason: int,
        borrower_consent: bytes = b"",
    ) -> TxResult:
        """Revoke an agreement of a batch, proving its inclusion."""
        call = self.contract.functions.revokeBatched(
            root, _leaf(signed), list(proof), reason, borrower_consent
        )
        return self.transactor.send(call, intent=self._intent("revoke", signed.agreement))

    def supersede_batched(
        self,
        root: bytes,
        previous: SignedAgreement,
        proof: Sequence[bytes],
        amendment: SignedAgreement,
    ) -> TxResult:
        """Notarise `amendment`, replacing `previous`, an agreement of the batch `root`."""
        call = self.contract.functions.supersedeBatched(
            root,
            _leaf(previous),
            list(proof),
            _struct(amendment.agreement),
            amendment.lender_signature,
            amendment.borrower_signature,
        )
        return self.transactor.send(call, intent=self._intent("notarise", amendment.agreement))

    # reads ----------------------------------------------------------------------------------

    def record_of(self, agreement_id_: bytes) -> Anchor | None:
        """Return the single-notarisation record of an agreement id, if any."""
        lender, at, block, _status = self.contract.functions.recordOf(agreement_id_).call()
        return None if int(lender, 16) == 0 else Anchor(lender, int(at), int(block))

    def batch_of(self, root: bytes, lender: str | None = None) -> Anchor | None:
        """Return the batch `lender` (default: this client's sender) anchored under `root`."""
        owner = lender or self.transactor.address
        lender, at, block = self.contract.functions.batchOf(owner, root).call()
        return None if int(lender, 16) == 0 else Anchor(lender, int(at), int(block))

    def status_of(self, agreement_id_: bytes) -> StatusOnChain:
        """Return the on-chain lifecycle of an agreement id."""
        status, successor, reason = self.contract.functions.statusOf(agreement_id_).call()
        return StatusOnChain(OnChainStatus(status), bytes(successor), int(reason))

    def verify_inclusion(
        self, root: bytes, signed: SignedAgreement, proof: Sequence[bytes]
    ) -> bool:
        """Ask the contract whether the leaf of `signed` is under the anchored `root`."""
        return bool(
            self.contract.functions.verifyInclusion(root, _leaf(signed), list(proof)).call()
        )

    def leaf_hash(self, signed: SignedAgreement) -> bytes:
        """Return the contract's StandardMerkleTree leaf hash of `signed`."""
        return bytes(self.contract.functions.leafHash(_leaf(signed)).call())

    def hash_agreement(self, agreement: Agreement) -> bytes:
        """Return the contract's EIP-712 hash of `agreement`."""
        return bytes(self.contract.functions.hashAgreement(_struct(agreement)).call())

    def loan_ledger(self) -> str:
        """Return the ledger consulted before revocations (the zero address until set)."""
        return str(self.contract.functions.loanLedger().call())

    def find_notarisation(self, agreement_id_: bytes, block_number: int) -> NotarisationLog | None:
        """Read the `AgreementNotarised` event of an agreement id from its block."""
        logs = self.contract.events.AgreementNotarised.get_logs(
            from_block=block_number,
            to_block=block_number,
            argument_filters={"agreementId": agreement_id_},
        )
        for entry in logs:
            return _notarisation(entry)
        return None

    def notarisations_of_digest(self, digest: bytes, from_block: int = 0) -> list[NotarisationLog]:
        """Read every `AgreementNotarised` event of a document digest, by any lender."""
        logs = self.contract.events.AgreementNotarised.get_logs(
            from_block=from_block, to_block="latest", argument_filters={"digest": digest}
        )
        return [_notarisation(entry) for entry in logs]

    def find_batch_anchor(
        self, root: bytes, block_number: int, lender: str | None = None
    ) -> TxResult | None:
        """Read the `BatchAnchored` event of `root` by `lender` (default: ours) from its block."""
        logs = self.batch_logs(block_number, block_number, root=root, lender=lender)
        return self._result_of(logs[0].entry) if logs else None

    def batch_logs(
        self,
        from_block: int,
        to_block: int | str = "latest",
        *,
        root: bytes | None = None,
        lender: str | None = None,
    ) -> list[BatchLog]:
        """Read `BatchAnchored` events, optionally of one root and/or one lender."""
        filters: dict[str, Any] = {}
        if root is not None:
            filters["root"] = root
        if lender is not None or root is not None:
            filters["lender"] = lender or self.transactor.address
        logs = self.contract.events.BatchAnchored.get_logs(
            from_block=from_block, to_block=to_block, argument_filters=filters
        )
        return [_batch_log(entry) for entry in logs]

    def find_notarisation_result(self, agreement_id_: bytes, block_number: int) -> TxResult | None:
        """Return the transaction that notarised an agreement id, read back from the chain."""
        logs = self.contract.events.AgreementNotarised.get_logs(
            from_block=block_number,
            to_block=block_number,
            argument_filters={"agreementId": agreement_id_},
        )
        for entry in logs:
            return self._result_of(entry)
        return None

    def _result_of(self, entry: Any) -> TxResult:
        block = self._w3.eth.get_block(entry["blockNumber"])
        return TxResult(
            tx_hash=to_hex(bytes(entry["transactionHash"])),
            block_number=int(entry["blockNumber"]),
            block_hash=to_hex(bytes(entry["blockHash"])),
            block_timestamp=int(block["timestamp"]),
            gas_used=0,
            logs=(entry,),
        )

    def has_role(self, role: bytes, account: str) -> bool:
        """Return whether `account` holds `role`."""
        return bool(self.contract.functions.hasRole(role, account).call())


def _batch_log(entry: Any) -> BatchLog:
    args = entry["args"]
    return BatchLog(
        root=bytes(args["root"]),
        lender=str(args["lender"]),
        count=int(args["count"]),
        manifest_hash=bytes(args["manifestHash"]),
        tx_hash=to_hex(bytes(entry["transactionHash"])),
        block_number=int(entry["blockNumber"]),
        entry=entry,
    )


def _notarisation(entry: Any) -> NotarisationLog:
    args = entry["args"]
    agreement = Agreement(
        digest=bytes(args["digest"]),
        lender=args["lender"],
        borrower=args["borrower"],
        borrower_commitment=bytes(args["borrowerCommitment"]),
        terms_digest=bytes(args["termsDigest"]),
        supersedes=bytes(args["supersedes"]),
    )
    signed = SignedAgreement(
        agreement=agreement,
        lender_signature=bytes(args["lenderSignature"]),
        borrower_signature=bytes(args["borrowerSignature"]),
    )
    return NotarisationLog(
        agreement_id=bytes(args["agreementId"]),
        signed=signed,
        tx_hash=to_hex(bytes(entry["transactionHash"])),
        log_index=int(entry["logIndex"]),
        block_number=int(entry["blockNumber"]),
    )


def _struct(agreement: Agreement) -> tuple[Any, ...]:
    return (
        agreement.digest,
        agreement.lender,
        agreement.borrower,
        agreement.borrower_commitment,
        agreement.terms_digest,
        agreement.supersedes,
    )


def agreement_struct(agreement: Agreement) -> tuple[Any, ...]:
    """Return `agreement` as the contract's `Agreement` tuple."""
    return _struct(agreement)


def leaf_struct(signed: SignedAgreement) -> tuple[Any, ...]:
    """Return `signed` as the contract's `AgreementLeaf` tuple."""
    return _leaf(signed)


def _leaf(signed: SignedAgreement) -> tuple[Any, ...]:
    return (_struct(signed.agreement), signed.lender_signature, signed.borrower_signature)

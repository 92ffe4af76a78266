"""Client of the FundFlow contract: fund-use transfers and regulator account labels."""

from __future__ import annotations

from web3 import Web3
from web3.contract import Contract

from loantrace.chain.artifacts import load_artifact
from loantrace.chain.registry import matches_build
from loantrace.chain.transactor import Transactor, TxResult
from loantrace.domain.errors import ConfigurationError

ARTIFACT = "FundFlow"
REPORTER_ROLE = Web3.keccak(text="REPORTER_ROLE")
REGULATOR_ROLE = Web3.keccak(text="REGULATOR_ROLE")


def code(text: str) -> bytes:
    """Return an upper-case code (category, purpose) as a left-aligned bytes32."""
    return text.encode("ascii").ljust(32, b"\0")


def uncode(value: bytes) -> str:
    """Return the text of a left-aligned bytes32 code."""
    return bytes(value).rstrip(b"\0").decode("ascii", errors="replace")


def deploy_fundflow(
    transactor: Transactor, w3: Web3, *, admin: str, ledger: str, registry: str
) -> str:
    """Deploy a FundFlow for `ledger`'s loans; return its address."""
    return transactor.deploy(load_artifact(ARTIFACT), admin, ledger, registry)


class FundFlowClient:
    """Typed calls to one deployed FundFlow."""

    def __init__(self, w3: Web3, address: str, transactor: Transactor | None = None) -> None:
        """Bind to the contract at `address`; without a transactor the client only reads."""
        artifact = load_artifact(ARTIFACT)
        if not matches_build(bytes(w3.eth.get_code(Web3.to_checksum_address(address))), artifact):
            raise ConfigurationError(f"no FundFlow of this build at {address}")
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=artifact["abi"])
        self._transactor = transactor

    @property
    def transactor(self) -> Transactor:
        """Return the sender of this client's writes; a read-only client has none."""
        if self._transactor is None:
            raise ConfigurationError("this FundFlow client is read-only: it sends nothing")
        return self._transactor

    def record_transfer(
        self,
        *,
        loan_id: bytes,
        from_account: bytes,
        to_account: bytes,
        amount: int,
        purpose: str,
        external_ref: bytes,
    ) -> TxResult:
        """Record money moved between two accounts after the loan's disbursement."""
        call = self.contract.functions.recordTransfer(
            loan_id, from_account, to_account, amount, code(purpose), external_ref
        )
        return self.transactor.send(call)

    def label_account(self, account: bytes, category: str) -> TxResult:
        """Label an account commitment with a category (REGULATOR or admin)."""
        return self.transactor.send(self.contract.functions.labelAccount(account, code(category)))

    def grant(self, role: bytes, account: str) -> TxResult:
        """Grant REPORTER or REGULATOR to `account` (admin only)."""
        return self.transactor.send(self.contract.functions.grantRole(role, account))

    def category_of(self, account: bytes) -> str:
        """Return the category label of an account ("" when none)."""
        return uncode(self.contract.functions.categoryOf(account).call())

    def reference_used(self, reporter: str, external_ref: bytes) -> bool:
        """Return whether `reporter` already reported a transfer under `external_ref`."""
        return bool(self.contract.functions.referenceUsed(reporter, external_ref).call())

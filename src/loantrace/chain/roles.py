"""On-chain roles (OpenZeppelin AccessControl) of the three contracts, by name.

A named role may span contracts: the regulator records the LPR on the LoanLedger and labels
accounts on FundFlow, so `regulator` is granted on both. Members are read from the
`RoleGranted`/`RoleRevoked` events (AccessControl does not enumerate), then confirmed with
`hasRole`.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3
from web3.contract import Contract

from loantrace.chain.transactor import Transactor, TxResult
from loantrace.domain.errors import InvalidInput

DEFAULT_ADMIN_ROLE = b"\x00" * 32
NOTARY_ROLE = Web3.keccak(text="NOTARY_ROLE")
REGULATOR_ROLE = Web3.keccak(text="REGULATOR_ROLE")
REPORTER_ROLE = Web3.keccak(text="REPORTER_ROLE")

# role name -> (contract name, role id) pairs it consists of
NAMED_ROLES: dict[str, tuple[tuple[str, bytes], ...]] = {
    "notary": (("registry", NOTARY_ROLE),),
    "regulator": (("ledger", REGULATOR_ROLE), ("fundflow", REGULATOR_ROLE)),
    "reporter": (("fundflow", REPORTER_ROLE),),
    "admin": (
        ("registry", DEFAULT_ADMIN_ROLE),
        ("ledger", DEFAULT_ADMIN_ROLE),
        ("fundflow", DEFAULT_ADMIN_ROLE),
    ),
}


@dataclass(frozen=True)
class Membership:
    """An account holding a named role."""

    role: str
    account: str


class Roles:
    """Grant, revoke and list the named roles, sending as the contracts' admin."""

    def __init__(
        self, contracts: dict[str, Contract], transactor: Transactor, from_block: int = 0
    ) -> None:
        self._contracts = contracts
        self._transactor = transactor
        self._from_block = from_block

    def has(self, role: str, account: str) -> bool:
        """Return whether `account` holds every part of `role`."""
        return all(
            bool(self._contracts[name].functions.hasRole(role_id, account).call())
            for name, role_id in _parts(role)
        )

    def holds_any(self, role: str, account: str) -> bool:
        """Return whether `account` holds `role` on any of its contracts."""
        return any(
            bool(self._contracts[name].functions.hasRole(role_id, account).call())
            for name, role_id in _parts(role)
        )

    def grant(self, role: str, account: str) -> list[TxResult]:
        """Grant `role` to `account` where it lacks it; return the transactions sent."""
        return self._change(role, account, grant=True)

    def revoke(self, role: str, account: str) -> list[TxResult]:
        """Revoke `role` from `account` where it holds it; return the transactions sent."""
        return self._change(role, account, grant=False)

    def members(self) -> list[Membership]:
        """Return every account holding each named role now, by role then account."""
        found: list[Membership] = []
        for role in NAMED_ROLES:
            candidates: set[str] = set()
            for name, role_id in _parts(role):
                event = self._contracts[name].events.RoleGranted
                logs = event.get_logs(
                    from_block=self._from_block, argument_filters={"role": role_id}
                )
                candidates.update(str(entry["args"]["account"]) for entry in logs)
            found.extend(
                Membership(role, account)
                for account in sorted(candidates)
                if self.has(role, account)
            )
        return found

    def _change(self, role: str, account: str, *, grant: bool) -> list[TxResult]:
        if not Web3.is_address(account):
            raise InvalidInput(f"{account!r} is not an address")
        account = Web3.to_checksum_address(account)
        sent = []
        for name, role_id in _parts(role):
            functions = self._contracts[name].functions
            held = bool(functions.hasRole(role_id, account).call())
            if held == grant:
                continue
            call = functions.grantRole if grant else functions.revokeRole
            sent.append(self._transactor.send(call(role_id, account)))
        return sent


def _parts(role: str) -> tuple[tuple[str, bytes], ...]:
    try:
        return NAMED_ROLES[role]
    except KeyError:
        raise InvalidInput(f"role must be one of {', '.join(NAMED_ROLES)}") from None

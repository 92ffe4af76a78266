"""Where the service may send a webhook: public addresses only, unless allow-listed.

Loopback, private (RFC 1918, unique local), link-local (and with it the cloud metadata
address 169.254.169.254), carrier-grade NAT, multicast, reserved and unspecified addresses
are refused, for IPv4, IPv6 and IPv4-mapped IPv6 alike. An allow-list entry is a host name
(exact, case-insensitive) or a network in CIDR form; tests and the demo allow loopback.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class AllowList:
    """Host names and networks a webhook may reach even though they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Build from entries such as "127.0.0.1/32", "::1", "receiver.internal"."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        """Return whether `host` is allow-listed by name."""
        return host.lower().rstrip(".") in self.hosts

    def allows(self, address: Address) -> bool:
        """Return whether `address` lies in an allow-listed network."""
        return any(address in network for network in self.networks)


def refusal(address: Address) -> str | None:
    """Return why a webhook may not be sent to `address`, or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal(address.ipv4_mapped)
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address (cloud metadata lives there)"),
        (address.is_private, "a private address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "a shared address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_unspecified, "the unspecified address"),
    )
    for hit, reason in checks:
        if hit:
            return reason
    return None


def refused(host: str, addresses: Iterable[str], allow: AllowList) -> str | None:
    """Return why `host` (resolved to `addresses`) may not be called, or None if it may."""
    if allow.allows_host(host):
        return None
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        reason = refusal(address)
        if reason is not None and not allow.allows(address):
            return f"{host} resolves to {address}, {reason}"
    return None

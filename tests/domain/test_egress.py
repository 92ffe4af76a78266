"""Webhook destinations: public addresses only, unless allow-listed."""

from __future__ import annotations

import ipaddress

import pytest

from loantrace.domain.egress import AllowList, refusal, refused

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "fe80::1",
    "fc00::1",
    "100.64.0.1",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "240.0.0.1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None
    assert refused("hooks.example", [address], AllowList()) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_one_bad_address_among_several_refuses_the_host() -> None:
    reason = refused("rebind.example", ["93.184.216.34", "10.0.0.7"], AllowList())
    assert reason is not None
    assert "10.0.0.7" in reason


def test_the_allow_list_names_networks_or_hosts() -> None:
    allow = AllowList.parse(["127.0.0.1/32", " receiver.internal ", "", "::1"])
    assert refused("localhost", ["127.0.0.1"], allow) is None
    assert refused("localhost", ["::1"], allow) is None
    assert refused("localhost", ["127.0.0.2"], allow) is not None
    assert refused("Receiver.Internal.", ["10.9.9.9"], allow) is None
    assert refused("other.internal", ["10.9.9.9"], allow) is not None

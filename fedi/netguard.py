"""The SSRF guard: which URLs and addresses the one outbound client may reach.

Remote documents name URLs we then fetch (keyIds, inboxes, redirects), so an attacker can point fedi at
``http://169.254.169.254/`` or at a host name that resolves to 127.0.0.1. The guard has two halves:

- ``Policy.check_url`` (pure): scheme, host, and the address when the host is an IP literal (aiohttp never
  hands IP literals to the resolver, so they must be checked here);
- ``GuardedResolver``: the aiohttp resolver of the client's session. It resolves once, refuses forbidden
  addresses and hands the checked addresses to the connector, so the check and the connection use the same
  addresses (no second lookup that a rebinding DNS server could answer differently). Redirects go through it too.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

from .errors import BlockedAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str], Awaitable[list[str]]]
"""An injected DNS lookup: host name → IP address strings."""

SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT: not private to Python, not public
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))  # RFC 6052, RFC 8215


@functools.lru_cache(maxsize=4096)
def forbidden_reason(address: IPAddress) -> str | None:
    """Why an address must not be reached from a public server ("a loopback address"…), or None for a global
    unicast address. Cached, as ``parse_ip``: every delivery asks again for a few thousand hosts."""
    if isinstance(address, ipaddress.IPv6Address):
        for embedded in _embedded_ipv4(address):
            reason = forbidden_reason(embedded)
            if reason:
                return f"an IPv6 form of {embedded}, {reason}"
    checks = (
        ("an unspecified address", address.is_unspecified),
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a shared (carrier-grade NAT) address", isinstance(address, ipaddress.IPv4Address) and address in SHARED),
        ("a site-local address", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
        ("an address that is not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address forwards to: mapped, 6to4, Teredo client, NAT64."""
    found = []
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.append(address.teredo[1])
    if any(address in net for net in NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


@functools.lru_cache(maxsize=4096)
def parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class Policy:
    """What the client may reach. The default is the production rule: https only, public addresses only."""

    allow_http: bool = False
    allow_private: bool = False
    exempt: tuple[IPNetwork, ...] = ()
    """Networks allowed even when private addresses are not (a LAN relay; tests allow 127.0.0.0/8 only)."""

    @classmethod
    def from_security(cls, allow_private_addresses: bool) -> Policy:
        """``security.allow_private_addresses`` opens both plain http and private addresses (development)."""
        return cls(allow_http=allow_private_addresses, allow_private=allow_private_addresses)

    def check_address(self, address: IPAddress, where: str) -> None:
        """Raise BlockedAddressError naming ``where`` (a URL or a host) and the address, unless it is allowed."""
        if self.allow_private or any(address in net for net in self.exempt):
            return
        reason = forbidden_reason(address)
        if reason:
            raise BlockedAddressError(f"{where}: refusing to connect to {address}, {reason} "
                                      f"(security.allow_private_addresses = true allows it, for local testing only)")

    def check_url(self, url: str) -> str:
        """Refuse a URL before any lookup: scheme, missing host, or a forbidden IP literal. Returns the host."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise BlockedAddressError(f"{url}: not a valid URL") from None
        scheme = parts.scheme.lower()
        allowed = ("https", "http") if self.allow_http else ("https",)
        if scheme not in allowed:
            raise BlockedAddressError(f"{url}: scheme {scheme or '(none)'!r} refused; "
                                      f"only {' and '.join(allowed)} URLs are fetched")
        if not host:
            raise BlockedAddressError(f"{url}: no host in the URL")
        address = parse_ip(host)
        if address is not None:
            self.check_address(address, url)
        return host


async def system_resolve(host: str) -> list[str]:
    """The default lookup: the system resolver through the event loop (A and AAAA records)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return _unique(str(info[4][0]) for info in infos)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses a host if ANY of its addresses is forbidden (no partial trust)."""

    def __init__(self, policy: Policy, resolve: Resolve | None = None) -> None:
        self.policy = policy
        self._resolve = resolve or system_resolve

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        try:
            found = await self._resolve(host)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot resolve {host}: {exc.strerror or exc}") from None
        addresses = [a for a in (parse_ip(text) for text in found) if a is not None]
        if not addresses:
            raise OSError(f"cannot resolve {host}: no address")
        for address in addresses:
            self.policy.check_address(address, f"{host} (resolved)")
        results: list[ResolveResult] = []
        for address in addresses:
            fam = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            if family not in (socket.AF_UNSPEC, fam):
                continue
            results.append(ResolveResult(hostname=host, host=str(address), port=port, family=fam, proto=0,
                                         flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV))
        if not results:
            raise OSError(f"cannot resolve {host}: no address of the wanted family")
        return results

    async def close(self) -> None:
        return None

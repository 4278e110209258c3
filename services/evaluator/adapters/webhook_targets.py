"""Where a webhook may point: public addresses only, unless the operator allow-lists a host.

A coordinator registering ``http://127.0.0.1:8081/...`` or ``http://169.254.169.254/`` would
otherwise make the delivery loop POST to internal services (server-side request forgery). The
host is resolved at registration and again before every delivery (a name may be re-pointed);
every address it resolves to must be global unicast. ``EVALUATOR_WEBHOOK_ALLOWED_HOSTS`` lists
host names, addresses or networks (CIDR) that are exempt, e.g. a coordinator relay on the LAN.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """The URL's host is not a public address and is not allow-listed; the message says why."""


def _forbidden(address: Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _forbidden(address.ipv4_mapped)
    for kind in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None


def _allowed(host: str, addresses: list[Address], allow_list: frozenset[str]) -> bool:
    if host.lower() in allow_list:
        return True
    networks = []
    for entry in allow_list:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return bool(addresses) and all(any(a in n for n in networks) for a in addresses)


async def _resolve(host: str) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(5.0):
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as error:
        raise TargetRefused(f"host does not resolve ({type(error).__name__})") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_target(url: str, allow_list: frozenset[str]) -> None:
    """Raise ``TargetRefused`` unless every address of the URL's host is public or allow-listed."""
    host = (urlsplit(url).hostname or "").strip("[]")
    if not host:
        raise TargetRefused("the URL has no host")
    if host.lower() in allow_list:
        return
    addresses = await _resolve(host)
    if _allowed(host, addresses, allow_list):
        return
    for address in addresses:
        if (kind := _forbidden(address)) is not None:
            raise TargetRefused(f"the host resolves to a {kind} address; "
                                "allow-list it with EVALUATOR_WEBHOOK_ALLOWED_HOSTS")


def allow_list_of(setting: str) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in setting.split(",") if h.strip())

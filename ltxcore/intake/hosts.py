"""The SSRF guard of http(s) fetches: a host is resolved once, and every address it resolves to must be globally
routable (no loopback, private, link-local, CGNAT, multicast or reserved range), IPv4 forms carried inside IPv6
addresses included. `ltxcore.intake.fetch` then connects to the vetted address itself."""

from __future__ import annotations

import ipaddress
import socket

from ltxcore.errors import RequestRejected
from ltxcore.intake.urls import host_problem

Loc = tuple[str | int, ...]

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def vet_host(host: str, port: int, loc: Loc, allow_private_hosts: bool) -> IP:
    """Resolve `host`; refuse it if any address is not globally routable (SSRF guard). Returns the address to use."""
    problem = host_problem(host)
    if problem:
        raise RequestRejected.one(loc, f"the URL {problem}", "url_invalid")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):  # UnicodeError: a name the IDNA codec refuses
        raise RequestRejected.one(loc, f"host {host!r} could not be resolved", "unreachable") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not allow_private_hosts:
        for ip in addresses:
            why = forbidden_address(ip)
            if why:
                raise RequestRejected.one(
                    loc, f"host {host!r} resolves to {ip}, {why}, which is refused", "forbidden_host"
                )
    return addresses[0]


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def forbidden_address(ip: IP) -> str | None:
    """Why `ip` may not be fetched from (loopback, private, reserved...), or None for a public address.

    An IPv6 address that carries an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`,
    NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`, Teredo `2001:0::`) reaches that IPv4 host through a
    translator or tunnel, so it is judged by the IPv4 address it embeds (Teredo: its server and its client)."""
    embedded = embedded_ipv4(ip)
    for address in embedded or [ip]:
        if (
            not address.is_global
            or address.is_multicast
            or address.is_reserved
            or address.is_loopback
            or address.is_link_local
            or address.is_unspecified
        ):
            role = f"an IPv6 form of {address}" if embedded else "an address"
            return f"{role} in a loopback, private or reserved range"
    return None


def embedded_ipv4(ip: IP) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address embeds (none for an IPv4 address or a plain IPv6 one)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    if ip.ipv4_mapped:
        return [ip.ipv4_mapped]
    if ip.sixtofour:
        return [ip.sixtofour]
    if ip.teredo:
        return list(ip.teredo)  # (server, client)
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):  # :: and ::1 are not IPv4-compatible forms
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []

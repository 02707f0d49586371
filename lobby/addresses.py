"""The bucket a client address counts in, for every per-address limit of the lobby."""

from __future__ import annotations

import functools
import ipaddress

IPV6_BUCKET_PREFIX = 64  # one subscriber's (or one host's) usual share of IPv6 addresses


@functools.lru_cache(maxsize=65_536)
def address_bucket(address: str) -> str:
    """The bucket a client address counts in: an IPv6 address's /64 (a host gets a whole /64 to
    pick addresses from), an IPv4-mapped one's IPv4 address, any other address itself."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_BUCKET_PREFIX), strict=False))
    return address

"""The SSRF guard at connect time: no FHIR request reaches a link-local or cloud-metadata address.

contract.md (Settings, ``CDS_FHIR_SERVER_ALLOWLIST``): whatever the allowlist, a ``fhirServer``, and
every ``next`` link, whose host resolves to 169.254.0.0/16, fe80::/10, fd00:ec2::254 or is
``metadata.google.internal`` is refused unless a prefix of the list names that host explicitly; and
the address checked is the one connected to. So the check sits in urllib3's connection class, the
one place a socket is opened: the host is resolved once, every address it resolves to is checked,
and the socket is connected to a checked address (never to a second lookup's answer, which a DNS
rebinding attacker controls). A refused destination raises :class:`ForbiddenDestination` before
any socket is made.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError
from urllib3.exceptions import NewConnectionError
from urllib3.util.connection import allowed_gai_family

FORBIDDEN_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),  # IPv4 link-local; AWS, Azure, GCP metadata
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
)
"""Link-local and cloud-metadata addresses (contract.md, ``CDS_FHIR_SERVER_ALLOWLIST``)."""

METADATA_HOSTS = frozenset({"metadata.google.internal"})
"""Names of metadata services, refused whatever they resolve to."""


class ForbiddenDestination(Exception):  # not an OSError: urllib3 and requests let it through
    """A FHIR request would connect to a link-local or cloud-metadata address."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host} is or resolves to a link-local or cloud-metadata address")
        self.host = host


def _normal_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def is_forbidden_address(address: str) -> bool:
    """Whether an IP address (IPv4-mapped IPv6 included) is link-local or cloud metadata."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: scope id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in FORBIDDEN_NETWORKS)


def is_forbidden_host(host: str) -> bool:
    """Whether a URL's host is, literally, a forbidden address or a metadata service's name
    (decided without DNS; what a name resolves to is checked when connecting)."""
    host = _normal_host(host)
    return host in METADATA_HOSTS or is_forbidden_address(host)


def explicitly_listed(prefixes: Iterable[str]) -> frozenset[str]:
    """The hosts the allowlist names although they are forbidden ones: the only exemptions.

    A prefix names a host explicitly when that host is the prefix's own host and is itself a
    link-local or metadata address or name (``http://169.254.10.5/fhir``); a listed ordinary
    name that resolves to a link-local address is still refused.
    """
    hosts = set()
    for prefix in prefixes:
        host = urlsplit(prefix).hostname
        if host and is_forbidden_host(host):
            hosts.add(_normal_host(host))
    return frozenset(hosts)


def checked_addresses(host: str, port: int, exempt: frozenset[str]) -> list[tuple[Any, ...]]:
    """Resolve ``host`` once; every ``getaddrinfo`` answer, if none is forbidden.

    Raises:
        ForbiddenDestination: the host is a metadata name, or any address it resolves to is
            link-local or cloud metadata, and the allowlist does not name it.
        socket.gaierror: the name does not resolve.
    """
    name = _normal_host(host)
    if name in exempt:
        return socket.getaddrinfo(name, port, allowed_gai_family(), socket.SOCK_STREAM)
    if name in METADATA_HOSTS:
        raise ForbiddenDestination(name)
    answers = socket.getaddrinfo(name, port, allowed_gai_family(), socket.SOCK_STREAM)
    if any(is_forbidden_address(str(answer[4][0])) for answer in answers):
        raise ForbiddenDestination(name)
    return answers


class _Guarded(HTTPConnection):
    """Connects only to an address :func:`checked_addresses` approved (in its own lookup)."""

    exempt: frozenset[str] = frozenset()

    def _new_conn(self) -> socket.socket:
        try:
            answers = checked_addresses(self._dns_host, self.port, self.exempt)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        name = self._dns_host
        failure: NewConnectionError | None = None
        try:
            for answer in answers:  # as urllib3 would, each address in turn: the checked ones
                self._dns_host = str(answer[4][0])
                try:
                    return super()._new_conn()
                except NewConnectionError as exc:
                    failure = exc
        finally:
            self._dns_host = name
        raise failure or NewConnectionError(self, f"{name} resolved to no address")


class _GuardedHTTP(_Guarded):
    pass


class _GuardedHTTPS(_Guarded, HTTPSConnection):  # TLS checks the URL's host name, as before
    pass


class GuardedAdapter(HTTPAdapter):
    """A requests transport whose connections pass :func:`checked_addresses` first.

    Args:
        exempt: hosts the allowlist names explicitly (:func:`explicitly_listed`).
        **kwargs: ``HTTPAdapter`` options (pool sizes, retries).
    """

    def __init__(self, exempt: frozenset[str] = frozenset(), **kwargs: Any) -> None:
        self._exempt = exempt
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Build the pool manager, then give it pools of guarded connections."""
        super().init_poolmanager(*args, **kwargs)
        guarded = {"exempt": self._exempt}
        http = type("GuardedHTTPPool", (HTTPConnectionPool,), {
            "ConnectionCls": type("GuardedHTTP", (_GuardedHTTP,), guarded)})
        https = type("GuardedHTTPSPool", (HTTPSConnectionPool,), {
            "ConnectionCls": type("GuardedHTTPS", (_GuardedHTTPS,), guarded)})
        self.poolmanager.pool_classes_by_scheme = {"http": http, "https": https}

"""The SSRF guard at connect time: link-local and cloud-metadata destinations are never connected
to, whatever name leads there and whenever it starts to (contract.md, CDS_FHIR_SERVER_ALLOWLIST)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from cds_service.app import create_app
from cds_service.fhir.egress import GuardedAdapter
from cds_service.fhir.egress import explicitly_listed
from cds_service.fhir.egress import is_forbidden_address
from cds_service.settings import Settings
from tests.common import issue_codes
from tests.common import issue_expressions
from tests.common import scenario_request
from tests.loopback import CountingHandler
from tests.loopback import Seen
from tests.loopback import serving

REBINDING_HOST = "fhir.rebinding.test"
METADATA = "169.254.169.254"


@pytest.mark.parametrize(("address", "forbidden"), [
    ("169.254.169.254", True), ("169.254.0.1", True), ("169.254.255.255", True),
    ("fe80::1", True), ("fe80::1%eth0", True), ("febf::1", True), ("fd00:ec2::254", True),
    ("::ffff:169.254.169.254", True), ("::ffff:a9fe:a9fe", True),
    ("169.253.255.255", False), ("169.255.0.1", False), ("127.0.0.1", False), ("10.0.0.5", False),
    ("fec0::1", False), ("fd00:ec2::253", False), ("2001:db8::1", False), ("::1", False),
    ("not-an-address", False),
])
def test_forbidden_addresses(address: str, forbidden: bool) -> None:
    assert is_forbidden_address(address) is forbidden


def test_only_a_prefix_naming_the_forbidden_host_itself_exempts_it() -> None:
    assert explicitly_listed(["http://169.254.169.254/latest", "https://ehr.example.org/fhir",
                              "http://[fe80::1]:8080/", "http://Metadata.Google.Internal./"]) \
        == {"169.254.169.254", "fe80::1", "metadata.google.internal"}


class Network:
    """A resolver and connector stand-in: names resolve as the test says, connects are recorded
    and only loopback ones are really made (nothing ever leaves the machine)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers  # successive answers for REBINDING_HOST (the last one repeats)
        self.lookups = 0
        self.connects: list[str] = []
        self.lock = threading.Lock()

    def getaddrinfo(self, real: Any, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != REBINDING_HOST:
            return real(host, port, *args, **kwargs)
        with self.lock:
            address = self.answers[min(self.lookups, len(self.answers) - 1)]
            self.lookups += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    def connect(self, real: Any, sock: socket.socket, address: Any) -> Any:
        with self.lock:
            self.connects.append(address[0])
        if address[0] != "127.0.0.1":
            raise ConnectionRefusedError("the test network connects to loopback only")
        return real(sock, address)


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    """Patches name resolution and ``connect`` for the test's duration."""
    net = Network([METADATA])
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda *a, **k: net.getaddrinfo(real_getaddrinfo, *a, **k))
    monkeypatch.setattr(socket.socket, "connect",
                        lambda sock, address: net.connect(real_connect, sock, address))
    yield net


def _app(tmp_path: Path, **settings: Any) -> Flask:
    return create_app(Settings(database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}",
                               fhir_timeout_s=2.0, request_deadline_s=4.0, **settings))


def _call(fhir_server: str, *, prefetch: bool = False) -> dict[str, Any]:
    call = scenario_request("sts-thigh-high-grade-r1", "patient-view.json", with_prefetch=prefetch)
    call["fhirServer"] = fhir_server
    return call


@pytest.mark.parametrize("server", [
    f"http://{METADATA}/latest/meta-data", "http://169.254.170.2/v2/credentials",
    "http://[fe80::1]/fhir", "http://[fd00:ec2::254]/fhir", "http://[::ffff:169.254.169.254]/",
    "http://metadata.google.internal/computeMetadata/v1", "http://METADATA.google.internal./",
    "http://2852039166/latest", "http://0xa9.0xfe.0xa9.0xfe/", "http://169.254.169.254.:80/",
])
def test_a_link_local_fhir_server_is_a_400_forbidden_without_a_connection(
    network: Network, tmp_path: Path, server: str,
) -> None:
    app = _app(tmp_path)  # default settings: an empty allowlist
    response = app.test_client().post("/cds-services/sts-patient-view", json=_call(server))
    body = response.get_json()
    assert response.status_code == 400, body
    assert issue_codes(body) == ["forbidden"] and issue_expressions(body) == ["fhirServer"]
    assert network.connects == []


def test_a_name_resolving_to_the_metadata_address_is_refused_when_connecting(
    network: Network, tmp_path: Path,
) -> None:
    app = _app(tmp_path, fhir_server_allowlist=f"http://{REBINDING_HOST}")
    response = app.test_client().post("/cds-services/sts-patient-view",
                                      json=_call(f"http://{REBINDING_HOST}/fhir"))
    body = response.get_json()
    assert response.status_code == 400, body
    assert issue_codes(body) == ["forbidden"] and issue_expressions(body) == ["fhirServer"]
    assert "link-local" in body["issue"][0]["diagnostics"]
    assert network.lookups >= 1 and network.connects == []


def test_an_explicitly_listed_metadata_address_is_called(network: Network,
                                                         tmp_path: Path) -> None:
    app = _app(tmp_path, fhir_server_allowlist=f"http://{METADATA}/fhir")
    response = app.test_client().post("/cds-services/sts-patient-view",
                                      json=_call(f"http://{METADATA}/fhir"))
    assert response.status_code == 412  # connected (refused by the test network), not forbidden
    assert set(network.connects) == {METADATA}


class _Pages(CountingHandler):
    """A searchset of two pages; each answer closes its connection (HTTP/1.0)."""

    def answer(self) -> None:
        page = 2 if "page=2" in self.path else 1
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
        if page == 1:
            base = f"http://{REBINDING_HOST}:{self.server.server_address[1]}/fhir"
            bundle["link"] = [{"relation": "next", "url": f"{base}/Condition?page=2"}]
        body = json.dumps(bundle).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    state: Seen


def test_a_name_that_rebinds_to_the_metadata_address_before_the_next_page_is_refused(
    network: Network, tmp_path: Path,
) -> None:
    """First lookup: loopback (the first page is read); the next page's connection: the metadata
    address. The address checked is the address connected to, so the rebinding is caught."""
    network.answers = ["127.0.0.1", METADATA]
    with serving(_Server, _Pages, "fhir-pages") as server:
        server.state = Seen()
        port = server.server_address[1]
        app = _app(tmp_path)
        call = _call(f"http://{REBINDING_HOST}:{port}/fhir", prefetch=True)
        del call["prefetch"]["conditions"]  # fetched: page 1 from loopback, then page 2

        response = app.test_client().post("/cds-services/sts-patient-view", json=call)

        body = response.get_json()
        assert response.status_code == 400, body
        assert issue_codes(body) == ["forbidden"]
        assert server.state.requests == ["/fhir/Condition?patient=lms3-pt"]
        assert set(network.connects) == {"127.0.0.1"}


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name``: (certificate file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_https_still_verifies_the_urls_name_on_the_checked_address(
    network: Network, tmp_path: Path,
) -> None:
    """The socket goes to the address that was checked; TLS checks the certificate against the
    URL's host name, as before (not against the address)."""
    network.answers = ["127.0.0.1"]
    cert_file, key_file = _certificate(tmp_path, REBINDING_HOST)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    with serving(_Server, _Pages, "fhir-tls") as server:
        server.state = Seen()
        server.socket = context.wrap_socket(server.socket, server_side=True)
        url = f"https://{REBINDING_HOST}:{server.server_address[1]}/fhir/Condition?page=2"
        session = requests.Session()
        session.mount("https://", GuardedAdapter())
        answer = session.get(url, verify=str(cert_file), timeout=5)
        with pytest.raises(requests.exceptions.SSLError):  # another name: refused by TLS
            session.get(url.replace(REBINDING_HOST, "127.0.0.1"), verify=str(cert_file),
                        timeout=5)
    assert answer.status_code == 200 and answer.json()["resourceType"] == "Bundle"
    assert set(network.connects) == {"127.0.0.1"}

"""The webhook HTTP client against real loopback receivers: TLS, keep-alive, limits."""

import datetime
import ipaddress
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.webhook_receiver import Answer, Receiver
from webhooks import http
from webhooks.netguard import Target

BODY = b'{"type":"CONNECTION"}'
HEADERS_TOO_LONG = "The response's headers were too long (over 64 KB or 100 lines)."


def target_of(receiver, host="127.0.0.1"):
    scheme = "https" if receiver.tls else "http"
    return Target(scheme, host, receiver.port, "127.0.0.1")


def post(receiver, host="127.0.0.1"):
    return http.post(
        target_of(receiver, host), receiver.url, BODY, {"webhook-id": "evt_1"}
    )


@pytest.fixture(autouse=True)
def fresh_pool(monkeypatch):
    monkeypatch.setattr(http, "_pool", http._Pool())


# TLS: a test authority, trusted in place of certifi's roots for these tests.


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, issuer, key, signing_key, *, ca, dns_names=()):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if dns_names:
        names = [x509.DNSName(name) for name in dns_names]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
    return builder.sign(signing_key, hashes.SHA256())


def _pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def authority(tmp_path, monkeypatch):
    """A certificate authority the client trusts, and a way to issue server pairs."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test CA", "Test CA", ca_key, ca_key, ca=True)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(_pem(ca))
    monkeypatch.setattr(http, "_tls", http.new_tls_context(cafile=str(ca_file)))

    def issue(*dns_names):
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = _certificate(
            dns_names[0], "Test CA", key, ca_key, ca=False, dns_names=dns_names
        )
        cert_file = tmp_path / f"{dns_names[0]}.pem"
        key_file = tmp_path / f"{dns_names[0]}.key"
        cert_file.write_bytes(_pem(leaf))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return str(cert_file), str(key_file)

    return issue


def test_https_dials_the_checked_address_and_verifies_the_host_name(authority):
    with Receiver(tls=authority("localhost")) as receiver:
        reply = post(receiver, host="localhost")

        assert (reply.status_code, reply.body, reply.error) == (200, b"ok", "")
        [request] = receiver.requests
        assert request.headers["host"] == f"localhost:{receiver.port}"
        assert request.body == BODY


def test_a_certificate_for_another_name_is_refused(authority):
    with Receiver(tls=authority("other.example")) as receiver:
        reply = post(receiver, host="localhost")

        assert reply.status_code is None
        assert reply.error.startswith("Could not connect:")
        assert "certificate verify failed" in reply.error
        assert receiver.requests == []


def test_a_certificate_from_an_unknown_authority_is_refused(authority, monkeypatch):
    monkeypatch.setattr(http, "_tls", http.new_tls_context())  # certifi's roots only
    with Receiver(tls=authority("localhost")) as receiver:
        reply = post(receiver, host="localhost")

        assert reply.status_code is None
        assert "certificate verify failed" in reply.error


# Keep-alive.


def test_one_connection_carries_request_after_request():
    with Receiver() as receiver:
        replies = [post(receiver) for _ in range(5)]

        assert [reply.status_code for reply in replies] == [200] * 5
        assert receiver.connections == 1


def test_an_answer_that_closes_the_connection_is_a_success():
    with Receiver() as receiver:
        receiver.will(*[Answer(200, headers={"Connection": "close"})] * 2)

        replies = [post(receiver) for _ in range(3)]

        assert [(r.status_code, r.body, r.error) for r in replies] == [
            (200, b"ok", "")
        ] * 3
        assert receiver.connections == 3  # each closed one replaced by a new one


def test_an_http_1_0_receiver_is_a_success():
    class OldHandler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), OldHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        target = Target("http", "127.0.0.1", port, "127.0.0.1")
        url = f"http://127.0.0.1:{port}/hook"
        replies = [http.post(target, url, BODY, {}) for _ in range(2)]
    finally:
        server.shutdown()
        server.server_close()

    assert [(r.status_code, r.error) for r in replies] == [(204, "")] * 2


def test_a_kept_connection_the_receiver_closed_is_replaced_without_a_failure():
    with Receiver() as receiver:
        assert post(receiver).status_code == 200
        receiver.drop_connections()

        reply = post(receiver)

        assert (reply.status_code, reply.error) == (200, "")
        assert len(receiver.requests) == 2
        assert receiver.connections == 2


def test_a_connection_whose_body_was_cut_is_not_reused():
    with Receiver() as receiver:
        receiver.will(Answer(200, body=b"a" * 100_000))
        cut = post(receiver)
        whole = post(receiver)

        assert len(cut.body) == http.RESPONSE_LIMIT
        assert whole.body == b"ok"
        assert receiver.connections == 2


# Limits.


@pytest.mark.parametrize(
    "headers",
    [
        {f"X-Padding-{number}": "p" * 1500 for number in range(90)},  # 135 KB
        {f"X-Line-{number}": "p" for number in range(101)},  # 101 lines
        {"X-Long": "z" * 70 * 1024},  # one line over 64 KB
    ],
    ids=["over-64-kb", "over-100-lines", "one-line-over-64-kb"],
)
def test_headers_beyond_the_limits_end_the_request(headers):
    with Receiver() as receiver:
        receiver.will(Answer(200, headers=headers))

        reply = post(receiver)

        assert reply.status_code is None
        assert reply.error == HEADERS_TOO_LONG


def test_a_malformed_status_line_fails_with_a_full_sentence():
    with Receiver() as receiver:
        receiver.will(Answer(1000))

        reply = post(receiver)

        assert reply.status_code is None
        assert reply.error.startswith("Request failed: ")
        assert reply.error.endswith(".")


def test_a_refused_connection_says_so():
    with Receiver() as receiver:
        target = Target("http", "127.0.0.1", receiver.port, "127.0.0.1")
        url = receiver.url
    reply = http.post(target, url, BODY, {})

    assert reply.status_code is None
    assert reply.error.startswith("Could not connect:")
    assert reply.error.endswith("refused.")


def test_the_pinned_address_is_dialled_not_the_host_name():
    with Receiver() as receiver:
        # A name that resolves nowhere: only the checked address can work.
        target = Target("http", "never-resolves.invalid", receiver.port, "127.0.0.1")
        reply = http.post(target, receiver.url, BODY, {})

        assert reply.status_code == 200
        assert receiver.requests[0].headers["host"] == (
            f"never-resolves.invalid:{receiver.port}"
        )


def test_a_path_outside_ascii_is_sent_percent_encoded():
    with Receiver() as receiver:
        url = f"http://127.0.0.1:{receiver.port}/hooks/café?team=ü&x=%2F"
        reply = http.post(target_of(receiver), url, BODY, {})

        assert reply.status_code == 200
        assert receiver.requests[0].path == "/hooks/caf%C3%A9?team=%C3%BC&x=%2F"


def test_ipv6_literal_hosts_are_bracketed_in_the_host_header():
    target = Target(
        "https", "2001:db8::1", 443, str(ipaddress.ip_address("2001:db8::1"))
    )

    assert http._host_header(target) == "[2001:db8::1]"

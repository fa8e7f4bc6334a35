"""A small OAuth 2 authorisation server on loopback, for the sign-in tests.

It runs in a thread on 127.0.0.1 at a random port. /authorize approves at
once (or refuses with ``?decision=deny``, or when ``provider.decision`` says
so) and redirects back with a code; /token checks the client's credentials,
the code, its redirect_uri and its PKCE verifier, hands out tokens, and
honours refresh tokens, rotating them when ``rotate_refresh`` is on. Codes
are single use and expire. Tests steer failures through the attributes.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit


class FakeProvider:
    def __init__(self, client_id="fake-client-id", client_secret="fake-secret"):
        self.client_id = client_id
        self.client_secret = client_secret
        self.decision = "approve"
        self.code_lifetime = 60.0
        self.tenant_param = ""  # e.g. "realmId": sent back on the callback
        self.tenant_id = "9130-3570-1234"
        self.rotate_refresh = True
        self.token_status = None  # answer /token with this status instead
        self.token_delay = 0.0  # seconds /token waits before answering
        self.token_padding = 0  # bytes of filler in a token answer
        self.token_trickle = 0.0  # seconds between each tenth of the answer
        self.authorize_requests = []
        self.token_requests = []
        self.codes = {}
        self.refresh_tokens = set()
        self.issued_access_tokens = []
        self._lock = threading.Lock()
        self._server = None

    # Lifecycle ------------------------------------------------------------

    def start(self):
        provider = self

        class Handler(_Handler):
            fake = provider

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval keeps stop() (and so each test) quick.
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
        ).start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def override(self, **fields):
        """An OAUTH_PROVIDER_OVERRIDES entry aiming a platform at this server."""
        return {
            "authorize_url": f"{self.base_url}/authorize",
            "token_url": f"{self.base_url}/token",
            **fields,
        }

    # Behaviour ------------------------------------------------------------

    def authorize(self, query):
        self.authorize_requests.append(query)
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri:
            return 400, {}, b"unknown client"

        answer = {"state": query.get("state", "")}
        if query.get("decision", self.decision) == "deny":
            answer["error"] = "access_denied"
        else:
            answer["code"] = self._issue_code(query)
            if self.tenant_param:
                answer[self.tenant_param] = self.tenant_id
        return 302, {"Location": f"{redirect_uri}?{urlencode(answer)}"}, b""

    def token(self, headers, form):
        self.token_requests.append({"headers": headers, "form": form})
        if self.token_delay:
            time.sleep(self.token_delay)
        if self.token_status:
            return self.token_status, {"error": "server_error"}
        if not self._client_authenticated(headers, form):
            return 401, {"error": "invalid_client"}

        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange(form)
        if grant_type == "refresh_token":
            return self._refresh(form)
        return 400, {"error": "unsupported_grant_type"}

    def revoke_refresh_tokens(self):
        self.refresh_tokens.clear()

    def _issue_code(self, query):
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "redirect_uri": query["redirect_uri"],
            "challenge": query.get("code_challenge", ""),
            "method": query.get("code_challenge_method", ""),
            "expires_at": time.time() + self.code_lifetime,
            "used": False,
            "scope": query.get("scope", ""),
        }
        return code

    def _client_authenticated(self, headers, form):
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            decoded = base64.b64decode(basic[6:]).decode()
            client_id, _, secret = decoded.partition(":")
        return client_id == self.client_id and secret == self.client_secret

    def _exchange(self, form):
        with self._lock:
            issued = self.codes.get(form.get("code", ""))
            if issued is None or issued["used"]:
                return 400, {"error": "invalid_grant"}
            issued["used"] = True
        if time.time() > issued["expires_at"]:
            return 400, {"error": "invalid_grant", "error_description": "expired"}
        if form.get("redirect_uri") != issued["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect"}
        if not _verifier_matches(issued, form.get("code_verifier", "")):
            return 400, {"error": "invalid_grant", "error_description": "pkce"}
        return 200, self._tokens(issued["scope"])

    def _refresh(self, form):
        refresh_token = form.get("refresh_token", "")
        with self._lock:
            if refresh_token not in self.refresh_tokens:
                return 400, {"error": "invalid_grant"}
            if self.rotate_refresh:
                self.refresh_tokens.discard(refresh_token)
        answer = self._tokens("")
        if not self.rotate_refresh:
            answer["refresh_token"] = refresh_token
        return 200, answer

    def _tokens(self, scope):
        access_token = f"fake-access-{secrets.token_urlsafe(12)}"
        refresh_token = f"fake-refresh-{secrets.token_urlsafe(12)}"
        self.refresh_tokens.add(refresh_token)
        self.issued_access_tokens.append(access_token)
        answer = {
            "token_type": "bearer",
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_in": 3600,
            "x_refresh_token_expires_in": 8726400,
            "scope": scope,
        }
        if self.token_padding:
            answer["padding"] = "x" * self.token_padding
        return answer


def _verifier_matches(issued, verifier):
    if not issued["challenge"]:
        return not verifier
    if issued["method"] != "S256" or not verifier:
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return secrets.compare_digest(expected, issued["challenge"])


class _Handler(BaseHTTPRequestHandler):
    fake = None

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/authorize":
            return self._send(404, {}, b"")
        query = dict(parse_qsl(url.query))
        self._send(*self.fake.authorize(query))

    def do_POST(self):
        if urlsplit(self.path).path != "/token":
            return self._send(404, {}, b"")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            form = json.loads(raw)
        else:
            form = dict(parse_qsl(raw))
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, answer = self.fake.token(headers, form)
        body = json.dumps(answer).encode()
        headers = {"Content-Type": "application/json"}
        self._send(status, headers, body, trickle=self.fake.token_trickle)

    def _send(self, status, headers, body, trickle=0.0):
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            step = max(1, len(body) // 10) if trickle else len(body) or 1
            for start in range(0, len(body), step):
                self.wfile.write(body[start : start + step])
                self.wfile.flush()
                time.sleep(trickle)
        except (BrokenPipeError, ConnectionResetError):
            pass  # The client gave up waiting (the timeout tests do this).

    def log_message(self, format, *args):
        pass

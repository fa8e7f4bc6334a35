"""Driving Link's OAuth sign-in against the fake provider, for the oauth tests."""

import secrets
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import httpx
from django.urls import reverse

from link.flow import LinkFlow, load_flow, save_flow
from platforms.services import credentials_save


def connect_platform(settings, provider, scope, platform_code, **fields):
    """Aim the platform at the fake provider and save its app's credentials."""
    overrides = dict(settings.OAUTH_PROVIDER_OVERRIDES)
    overrides[platform_code] = provider.override(**fields)
    settings.OAUTH_PROVIDER_OVERRIDES = overrides
    credentials_save(scope, platform_code, provider.client_id, provider.client_secret)


def open_flow(client, scope, platform_code, **details):
    """A Link flow in the client's session, consented and at the sign-in step."""
    details = {"consented": True, "origin": "https://lender.example", **details}
    flow = LinkFlow(
        flow_id=secrets.token_urlsafe(16),
        scope=scope,
        platform=platform_code,
        nonce="nonce-1",
        **details,
    )
    session = client.session
    save_flow(SimpleNamespace(session=session), flow)
    session.save()
    return flow


def reload_flow(client, flow):
    return load_flow(SimpleNamespace(session=client.session), flow.flow_id)


def start(client, flow, **form):
    return client.post(reverse("oauth:start", args=[flow.flow_id]), form)


def consent(authorize_url, decision=""):
    """Open the provider's consent page as the browser would; return where it
    sends the business back to, as a path and query for the test client."""
    if decision:
        authorize_url += f"&decision={decision}"
    answer = httpx.get(authorize_url, follow_redirects=False, trust_env=False)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    return f"{back.path}?{back.query}"


def sign_in(client, flow, decision=""):
    """Start, consent at the provider, and return the callback's response."""
    started = start(client, flow)
    assert started.status_code == 302
    return client.get(consent(started["Location"], decision))


def query_of(url):
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}

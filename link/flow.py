"""One business's pass through Link, kept server-side in the session.

A browser may run several flows at once (two fintech tabs, or a retry),
so each lives under its own random ``flow_id``. Other parts of Link (the
OAuth sign-in in platforms.oauth_views) load a flow, then finish it with
``complete_flow`` or send the business back with ``fail_flow``.
"""

import logging
import secrets
import time
from dataclasses import asdict, dataclass, field

from django.http import Http404
from django.shortcuts import redirect

from accounts.models import Organisation
from link.headers import with_link_headers
from rutterdash.scoping import Scope

log = logging.getLogger(__name__)

SESSION_KEY = "link_flows"
# A flow left open longer than this is forgotten; its business starts again.
FLOW_LIFETIME_SECONDS = 2 * 60 * 60
# Oldest flows are dropped beyond this, so a session cannot grow unbounded.
MAX_FLOWS_PER_SESSION = 8
ERROR_KEY = "error"


@dataclass
class LinkFlow:
    flow_id: str
    scope: Scope
    public_key: str = ""
    platform: str = ""
    # What the app asked for when it named no platform we know.
    unknown_platform: str = ""
    origin: str = ""
    nonce: str = ""
    redirect_url: str = ""
    reauth_connection_id: str | None = None
    # Set when the connection being authorised already has its platform.
    platform_locked: bool = False
    consented: bool = False
    started_at: float = field(default_factory=time.time)
    # Filled by complete_flow: what the success step shows and posts.
    connection_id: str | None = None
    public_token: str | None = None
    # An inline error for the sign-in step, shown once (see fail_flow).
    error: str = ""

    @property
    def finished(self):
        return self.connection_id is not None

    @property
    def expired(self):
        return time.time() - self.started_at > FLOW_LIFETIME_SECONDS

    def as_session(self):
        stored = asdict(self)
        stored.pop("scope")
        stored["organisation_id"] = self.scope.organisation.pk
        stored["environment"] = self.scope.environment
        return stored


def start_flow(request, scope, **details):
    flow = LinkFlow(flow_id=secrets.token_urlsafe(16), scope=scope, **details)
    save_flow(request, flow)
    log.debug(
        "Link flow started for organisation %s (%s)",
        scope.organisation.pk,
        scope.environment,
    )
    return flow


def load_flow(request, flow_id):
    """The session's flow with this id; 404 if unknown or expired."""
    stored = request.session.get(SESSION_KEY, {}).get(flow_id)
    if stored is None:
        raise Http404("This Link session has ended. Start again from the app.")

    stored = dict(stored)
    organisation = Organisation.objects.filter(pk=stored.pop("organisation_id"))
    organisation = organisation.first()
    environment = stored.pop("environment")
    flow = LinkFlow(scope=Scope(organisation, environment), **stored)
    if organisation is None or flow.expired:
        forget_flow(request, flow_id)
        raise Http404("This Link session has ended. Start again from the app.")
    return flow


def save_flow(request, flow):
    flows = dict(request.session.get(SESSION_KEY, {}))
    flows[flow.flow_id] = flow.as_session()
    newest = sorted(flows.items(), key=lambda item: item[1]["started_at"])
    request.session[SESSION_KEY] = dict(newest[-MAX_FLOWS_PER_SESSION:])


def forget_flow(request, flow_id):
    flows = dict(request.session.get(SESSION_KEY, {}))
    if flows.pop(flow_id, None) is not None:
        request.session[SESSION_KEY] = flows


def complete_flow(request, flow, platform_code, store_name, on_connected=None):
    """Connect (or re-authorise) the business and go to Link's success step.

    ``on_connected(connection)`` runs inside the transaction that creates
    the connection, so whatever it stores is kept only with it.
    """
    from link import services

    connection, public_token = services.link_complete(
        flow.scope,
        platform_code,
        store_name,
        existing_id=flow.reauth_connection_id,
        on_connected=on_connected,
    )
    flow.platform = connection.platform
    flow.connection_id = str(connection.id)
    flow.public_token = public_token
    flow.error = ""
    save_flow(request, flow)
    return with_link_headers(redirect("link:success", flow_id=flow.flow_id))


def fail_flow(request, flow, message):
    """Show the platform's sign-in step again with ``message`` as an inline error."""
    flow.error = message
    save_flow(request, flow)
    log.debug("Link flow %s: sign-in refused: %s", flow.flow_id, message)
    return with_link_headers(redirect("link:sign_in", flow_id=flow.flow_id))


def take_error(request, flow):
    """The flow's pending sign-in error, cleared so a reload does not repeat it."""
    message = flow.error
    if message:
        flow.error = ""
        save_flow(request, flow)
    return message

"""The webhook configs API, as Rutter's 2024-08-31 version describes it.

``/versioned/configs/webhooks`` lists, creates, updates and deletes the
key's environment's destinations: the same rows, and the same services,
as the dashboard's Webhooks page. ``allow_list`` null means every event
type; Rutter's ``platform_data_config`` is not offered and is refused.
"""

from typing import Annotated

from ninja import Router, Schema
from pydantic import AfterValidator, ConfigDict, StringConstraints

from rutterdash.api_errors import invalid_field
from webhooks import services
from webhooks.events import EVENT_TYPES
from webhooks.models import Destination

router = Router(tags=["Webhooks"])

DISABLED_THROUGH_API = "Disabled through the API."


def _without_nul(value):
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Url = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_without_nul)
]


class AllowList(Schema):
    model_config = ConfigDict(extra="forbid")

    allowedTypes: list[str]  # noqa: N815 (Rutter's field name)


class WebhookConfigCreate(Schema):
    model_config = ConfigDict(extra="forbid")

    url: Url
    disabled: bool = False
    allow_list: AllowList | None = None


class WebhookConfigUpdate(Schema):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    disabled: bool | None = None
    allow_list: AllowList | None = None


class WebhookConfig(Schema):
    id: str
    url: str
    disabled: bool
    allow_list: AllowList | None


class WebhookConfigList(Schema):
    webhooks: list[WebhookConfig]


class WebhookConfigResponse(Schema):
    webhook: WebhookConfig


class WebhookConfigDeleted(Schema):
    success: bool


@router.get("", response=WebhookConfigList, url_name="webhook_configs")
def config_list(request):
    destinations = request.scope.all(Destination)
    return {"webhooks": [webhook_config(d) for d in destinations]}


@router.post("", response=WebhookConfigResponse, url_name="webhook_config_create")
def config_create(request, body: WebhookConfigCreate):
    event_types = _event_types(body.allow_list)
    reason = DISABLED_THROUGH_API if body.disabled else ""
    try:
        destination = services.destination_create(
            request.scope,
            body.url,
            event_types=event_types,
            enabled=not body.disabled,
            disabled_reason=reason,
        )
    except services.DestinationRefused as refusal:
        raise invalid_field("url", str(refusal)) from None
    return {"webhook": webhook_config(destination)}


@router.patch(
    "/{webhook_id}", response=WebhookConfigResponse, url_name="webhook_config"
)
def config_update(request, webhook_id: str, body: WebhookConfigUpdate):
    destination = request.scope.get(Destination, pk=webhook_id)
    changes = _changes(body)

    try:
        services.destination_update(destination, **changes)
    except services.DestinationRefused as refusal:
        raise invalid_field("url", str(refusal)) from None
    _apply_disabled(destination, body.disabled)
    return {"webhook": webhook_config(destination)}


@router.delete(
    "/{webhook_id}", response=WebhookConfigDeleted, url_name="webhook_config_delete"
)
def config_delete(request, webhook_id: str):
    destination = request.scope.get(Destination, pk=webhook_id)

    services.destination_delete(destination)
    return {"success": True}


def webhook_config(destination):
    allowed = destination.event_types
    return {
        "id": str(destination.pk),
        "url": destination.url,
        "disabled": not destination.enabled,
        "allow_list": {"allowedTypes": allowed} if allowed else None,
    }


def _changes(body):
    sent = body.model_fields_set
    if "url" in sent and body.url is None:
        raise invalid_field("url", "must be a URL, not null.")

    changes = {}
    if body.url is not None:
        changes["url"] = body.url
    if "allow_list" in sent:
        changes["event_types"] = _event_types(body.allow_list)
    return changes


def _apply_disabled(destination, disabled):
    if disabled is None or disabled == (not destination.enabled):
        return
    if disabled:
        services.destination_disable(destination, DISABLED_THROUGH_API)
    else:
        services.destination_enable(destination)


def _event_types(allow_list):
    """The destination's filter: [] (every type) for a null allow_list."""
    if allow_list is None:
        return []

    allowed = list(dict.fromkeys(allow_list.allowedTypes))
    if not allowed:
        raise invalid_field(
            "allow_list.allowedTypes",
            "name at least one event type, or send allow_list null to "
            "receive every type.",
        )
    unknown = [name for name in allowed if name not in EVENT_TYPES]
    if unknown:
        raise invalid_field(
            "allow_list.allowedTypes",
            f"unknown event type {unknown[0]!r}; known types are "
            + ", ".join(EVENT_TYPES)
            + ".",
        )
    return allowed

import json

from django.contrib import messages
from django.http import HttpResponseBadRequest, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
)

from accounts.decorators import admin_required, member_required
from accounts.elsewhere import get_in_scope
from webhooks import forms, services
from webhooks.models import Destination

LOG_PAGE_SIZE = 50
RECENT_MESSAGES = 10


@require_GET
@member_required
def index(request):
    destinations = list(request.scope.all(Destination))
    strips = services.success_rate_strips(destinations)
    backlogs = services.open_backlogs(destinations)

    rows = [
        {
            "destination": destination,
            "status": services.destination_status(destination),
            "strip": strips[destination.pk],
            "backlog": backlogs.get(destination.pk),
        }
        for destination in destinations
    ]
    context = {
        "page": "webhooks",
        "rows": rows,
        "relaxed_rules": services.relaxed_url_rules(),
    }
    return render(request, "webhooks/index.html", context)


@require_http_methods(["GET", "POST"])
@member_required
def destination_create(request):
    form = forms.DestinationForm(request.POST or None, scope=request.scope)
    if request.method != "POST" or not form.is_valid():
        return _form_page(request, form)

    try:
        destination = services.destination_create(
            request.scope, **form.fields_to_save()
        )
    except services.DestinationRefused as refusal:
        form.add_error("url", str(refusal))
        return _form_page(request, form)
    messages.success(request, f"Added {destination.url}.")
    return redirect("webhooks:destination", destination.pk)


@require_GET
@member_required
def destination_detail(request, destination_id):
    destination = _destination(request, destination_id)
    recent = destination.messages.select_related("event")[:RECENT_MESSAGES]
    backlog = services.open_backlogs([destination]).get(destination.pk)

    context = {
        "page": "webhooks",
        "destination": destination,
        "status": services.destination_status(destination),
        "strip": services.success_rate_strip(destination),
        "backlog": backlog,
        "recent": recent,
        "previous_secret_active": services.previous_secret_active(destination),
        "paused_until": services.paused_until(destination),
        "disable_after": services.disable_after(),
        "disable_form": forms.DisableForm(),
        "rotate_form": forms.RotateForm(),
        "replay_form": forms.ReplayForm(),
    }
    return render(request, "webhooks/destination_detail.html", context)


@require_http_methods(["GET", "POST"])
@member_required
def destination_edit(request, destination_id):
    destination = _destination(request, destination_id)
    form = forms.DestinationForm(
        request.POST or None, instance=destination, scope=request.scope
    )
    if request.method != "POST" or not form.is_valid():
        return _form_page(request, form, destination)

    # The form worked on this instance; reload so the service sees the old URL.
    destination.refresh_from_db()
    try:
        services.destination_update(destination, **form.fields_to_save())
    except services.DestinationRefused as refusal:
        form.add_error("url", str(refusal))
        return _form_page(request, form, destination)
    failed = destination.failed_on_disable
    if failed is None:
        messages.success(request, "Saved.")
    else:
        messages.success(request, f"Saved and disabled. {_failed_on_disable(failed)}")
    return redirect("webhooks:destination", destination.pk)


def _form_page(request, form, destination=None):
    if form.is_bound and form.tampered():
        return HttpResponseBadRequest("The form lacks its environment.")
    context = {
        "page": "webhooks",
        "form": form,
        "destination": destination,
        "relaxed_rules": services.relaxed_url_rules(),
    }
    return render(request, "webhooks/destination_form.html", context)


@require_POST
@member_required
def destination_disable(request, destination_id):
    destination = _destination(request, destination_id)
    form = forms.DisableForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("The reason is too long.")

    if not destination.enabled:
        messages.info(request, f"{destination.url} is already disabled.")
        return redirect("webhooks:destination", destination.pk)

    failed = services.destination_disable(destination, form.cleaned_data["reason"])
    messages.success(
        request,
        f"Disabled {destination.url}. Nothing is sent to it. "
        + _failed_on_disable(failed),
    )
    return redirect("webhooks:destination", destination.pk)


def _failed_on_disable(count):
    if count == 0:
        return "No messages were waiting to be sent."
    noun = "message that was" if count == 1 else "messages that were"
    verb = "shows" if count == 1 else "show"
    return (
        f"{count} {noun} waiting to be sent now {verb} as failed; after enabling "
        "it again, “Replay failed messages” sends them. Messages already on "
        "their way finish normally."
    )


@require_POST
@member_required
def destination_enable(request, destination_id):
    destination = _destination(request, destination_id)

    if not services.destination_enable(destination):
        messages.info(request, f"{destination.url} is already enabled.")
        return redirect("webhooks:destination", destination.pk)
    messages.success(
        request,
        f"Enabled {destination.url}. New events are sent to it; replay failed "
        "messages below to send what it missed.",
    )
    return redirect("webhooks:destination", destination.pk)


@require_POST
@admin_required
def destination_delete(request, destination_id):
    destination = _destination(request, destination_id)
    url = destination.url

    services.destination_delete(destination)
    messages.success(request, f"Deleted {url} and its delivery history.")
    return redirect("webhooks:index")


@require_POST
@member_required
def send_test(request, destination_id):
    destination = _destination(request, destination_id)

    try:
        message = services.send_test(destination)
    except services.SendRefused as refusal:
        messages.warning(request, str(refusal))
        return redirect("webhooks:destination", destination.pk)
    messages.success(request, "Test event queued. It is sent once and never retried.")
    return redirect("webhooks:message", message.pk)


@require_POST
@admin_required
def rotate_secret(request, destination_id):
    destination = _destination(request, destination_id)
    form = forms.RotateForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose one of the overlaps offered.")

    services.rotate_secret(destination, form.cleaned_data["overlap"])
    messages.success(request, _rotated(destination))
    return redirect("webhooks:destination", destination.pk)


def _rotated(destination):
    expires = destination.previous_secret_expires_at
    if expires is None:
        return "New signing secret in use; the old one no longer signs."
    return (
        "New signing secret in use. Requests carry the old secret's "
        f"signature too until {expires:%d %b %Y %H:%M} UTC."
    )


@never_cache
@require_POST
@admin_required
def reveal_secret(request, destination_id):
    destination = _destination(request, destination_id)

    secret = services.reveal_secret(destination, request.membership)
    context = {"page": "webhooks", "destination": destination, "secret": secret}
    return render(request, "webhooks/secret.html", context)


@require_http_methods(["GET", "POST"])
@member_required
def replay(request, destination_id):
    destination = _destination(request, destination_id)
    form = forms.ReplayForm(request.POST or request.GET or None)
    context = {"page": "webhooks", "destination": destination, "form": form}
    if not form.is_valid():
        return render(request, "webhooks/replay.html", context)

    since = form.cleaned_data["since"]
    if request.method == "GET":
        context["count"] = services.failed_since(destination, since)
        return render(request, "webhooks/replay.html", context)

    try:
        count = services.replay_failed(destination, since)
    except services.SendRefused as refusal:
        messages.warning(request, str(refusal))
        return redirect("webhooks:destination", destination.pk)
    messages.success(request, _replayed(count))
    return redirect("webhooks:destination", destination.pk)


def _replayed(count):
    if count == 0:
        return "No failed messages to replay in that period."
    noun = "message" if count == 1 else "messages"
    return f"Replaying {count} failed {noun}."


@require_GET
@member_required
def message_list(request):
    destinations = request.scope.all(Destination)
    form = forms.LogFilterForm(request.GET, destinations=destinations)
    try:
        valid = form.is_valid()
    except forms.CursorInvalid:
        return HttpResponseBadRequest("That page link is damaged.")

    log, more = [], False
    if valid:
        filters = form.filters()
        before = filters.pop("before", None)
        log, more = services.message_log(request.scope, filters, before, LOG_PAGE_SIZE)
        now = timezone.now()
        for message in log:
            message.next_step = services.next_step(message, now)
    context = {
        "page": "webhooks",
        "form": form,
        "log": log,
        "query": _log_query(request.GET),
        "older": forms.encode_cursor(log[-1]) if more else None,
        "paged": "before" in request.GET,
    }
    return render(request, "webhooks/messages.html", context)


def _log_query(params):
    """The filters as a query string base for the paging links."""
    query = QueryDict(mutable=True)
    for name, value in params.items():
        if value and name != "before":
            query[name] = value
    return query


@require_GET
@member_required
def message_detail(request, message_id):
    message = _message(request, message_id)
    attempts = list(message.attempts.all())
    next_step = services.next_step(message)
    # A leased message's current attempt has no row until its outcome is known.
    in_flight = next_step["code"] == "in_flight"

    context = {
        "page": "webhooks",
        "message": message,
        "payload": json.dumps(message.event.payload, indent=2, sort_keys=True),
        "attempts": attempts,
        "next_step": next_step,
        "in_flight": in_flight,
        "finished": message.status in services.FINISHED,
    }
    return render(request, "webhooks/message_detail.html", context)


@require_POST
@member_required
def message_resend(request, message_id):
    message = _message(request, message_id)

    try:
        services.resend(message)
    except services.SendRefused as refusal:
        messages.warning(request, str(refusal))
        return redirect("webhooks:message", message.pk)
    messages.success(request, "Queued again, with a fresh retry schedule.")
    return redirect("webhooks:message", message.pk)


def _destination(request, destination_id):
    return get_in_scope(
        request.scope, lambda scope: scope.all(Destination), "destination",
        pk=destination_id,
    )


def _message(request, message_id):
    def messages_in(scope):
        scoped = services.scoped_messages(scope)
        return scoped.select_related("event", "destination")

    return get_in_scope(request.scope, messages_in, "message", pk=message_id)

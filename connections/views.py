import logging
import tempfile

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import admin_required, member_required
from accounts.elsewhere import get_in_scope
from connections import exports, reports, services, sync
from connections.forms import (
    ConnectionCreateForm,
    ConnectionFilterForm,
    DisableForm,
    ReportPeriodForm,
)
from connections.models import ENTITIES, Connection, ConnectionStatus
from link import services as link_services

log = logging.getLogger(__name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Workbooks smaller than this stay in memory; larger ones spill to disk.
SPOOL_BYTES = 8 * 1024 * 1024
DOWNLOAD_CHUNK_BYTES = 256 * 1024
REFRESH_SECONDS = 4
PRODUCTION_CREATE_REFUSED = "Production connections are created through Link."
RESYNC_DISABLED = "Enable this connection before syncing it again."
RESYNC_AWAITING_LINK = (
    "This connection has nothing to sync yet: its business has not authorised "
    "it in Link. Send them its Link URL: {link_url}"
)
NOT_SYNCED_YET = "Downloads are ready once the first sync has completed."


@require_GET
@member_required
def connection_list(request):
    # A create form refused after a switch comes back with its input here.
    kept = {name: request.GET.get(name) for name in ("platform", "store_name")}
    initial = {name: value for name, value in kept.items() if value}
    form = ConnectionCreateForm(initial=initial, scope=request.scope)
    return _show_list(request, form)


def _show_list(request, create_form, status=200):
    filters = ConnectionFilterForm(request.GET).filters()
    connections = services.connection_search(
        request.scope.all(Connection), filters["q"]
    )
    counts = services.connection_counts(connections)

    if filters["status"]:
        connections = connections.with_status(filters["status"])
    paginator = Paginator(connections, settings.CONNECTIONS_PER_PAGE)

    context = {
        "page": "connections",
        "connections": paginator.get_page(filters["page"]),
        "filters": filters,
        "query": _query(filters),
        "tabs": _tabs(counts, filters["status"]),
        "create_form": create_form,
    }
    return render(request, "connections/list.html", context, status=status)


@require_POST
@member_required
def create(request):
    form = ConnectionCreateForm(request.POST, scope=request.scope)
    if form.switched():
        log.info("Connection create refused: sent after an environment switch")
        return _show_list(request, form, status=409)
    if not request.scope.is_sandbox:
        raise PermissionDenied(PRODUCTION_CREATE_REFUSED)
    if not form.is_valid():
        return _show_list(request, form, status=400)

    connection, token = services.connection_create(
        request.scope,
        form.cleaned_data["platform"],
        form.cleaned_data["store_name"],
    )
    messages.success(
        request,
        f"Created {connection.store_name}. Its access token is {token}. "
        "Copy it now: it is not shown again.",
    )
    return redirect("connections:detail", connection.pk)


@require_GET
@member_required
def detail(request, connection_id):
    connection = _load(request, connection_id)
    syncing = connection.status == ConnectionStatus.SYNCING
    synced = connection.last_sync_completed_at is not None
    progress = sync.sync_progress(connection)

    context = {
        "page": "connections",
        "connection": connection,
        "entity_syncs": _entity_syncs(connection, progress),
        "syncing": syncing,
        "progress": progress["percent"],
        "refresh_seconds": REFRESH_SECONDS,
        "disable_form": DisableForm(),
        "report_form": _report_form(None) if synced else None,
    }
    return render(request, "connections/detail.html", context)


@require_POST
@member_required
def resync(request, connection_id):
    connection = _load(request, connection_id)
    if connection.disabled:
        # The worker skips disabled connections; the sync would stay queued.
        messages.warning(request, RESYNC_DISABLED)
        return redirect("connections:detail", connection.pk)
    if link_services.awaiting_link(connection):
        waiting = RESYNC_AWAITING_LINK.format(link_url=connection.link_url)
        messages.warning(request, waiting)
        return redirect("connections:detail", connection.pk)

    try:
        services.connection_resync(connection)
    except services.ResyncRefused as refusal:
        messages.warning(request, str(refusal))
        return redirect("connections:detail", connection.pk)
    messages.success(request, f"Resync queued for {connection.store_name}.")
    return redirect("connections:detail", connection.pk)


@require_POST
@admin_required
def disable(request, connection_id):
    connection = _load(request, connection_id)
    form = DisableForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("The reason is too long.")

    reason = form.cleaned_data["reason"]
    if reason:
        services.connection_disable(connection, reason)
    else:
        services.connection_disable(connection)
    messages.success(
        request,
        f"Disabled {connection.store_name}: {connection.disabled_reason}",
    )
    return redirect("connections:detail", connection.pk)


@require_POST
@admin_required
def enable(request, connection_id):
    connection = _load(request, connection_id)

    services.connection_enable(connection)
    messages.success(request, f"Enabled {connection.store_name}.")
    return redirect("connections:detail", connection.pk)


@require_POST
@admin_required
def delete(request, connection_id):
    connection = _load(request, connection_id)
    name = connection.store_name

    services.connection_delete(connection)
    messages.success(request, f"Deleted {name} and all of its synced data.")
    return redirect("connections:list")


@require_GET
@member_required
def export(request, connection_id):
    connection = _load(request, connection_id)
    if connection.last_sync_completed_at is None:
        return _not_synced_yet(request, connection)

    today = timezone.localdate().isoformat()
    filename = _filename(connection, "accounting", today)
    return _xlsx_download(
        filename,
        lambda fileobj: exports.write_accounting_export(connection, fileobj),
    )


@require_GET
@member_required
def report(request, connection_id):
    connection = _load(request, connection_id)
    if connection.last_sync_completed_at is None:
        return _not_synced_yet(request, connection)

    form = _report_form(request.GET or None)
    if not form.is_valid():
        context = {"page": "connections", "connection": connection, "form": form}
        return render(request, "connections/report.html", context)

    start, end = form.period()
    period = f"{start:%Y-%m}-to-{end:%Y-%m}"
    return _xlsx_download(
        _filename(connection, "financial-report", period),
        lambda fileobj: reports.write_financial_report(
            connection, start, end, fileobj
        ),
    )


def _load(request, connection_id):
    return get_in_scope(
        request.scope, lambda scope: scope.all(Connection), "connection",
        pk=connection_id,
    )


def _query(filters):
    """The filter and search as a query string base for tab and page links."""
    query = QueryDict(mutable=True)
    for name in ("status", "q"):
        if filters[name]:
            query[name] = filters[name]
    return query


def _tabs(counts, current):
    tabs = [("", "All", counts["all"])]
    tabs += [
        (status.value, status.label, counts[status.value])
        for status in ConnectionStatus
    ]
    return [
        {"status": code, "label": label, "count": count, "current": code == current}
        for code, label, count in tabs
    ]


def _entity_syncs(connection, progress):
    """Each entity's sync row, in sync order, with the live count if any."""
    order = {entity: index for index, entity in enumerate(ENTITIES)}
    rows = sorted(
        connection.entity_syncs.all(),
        key=lambda row: order.get(row.entity, len(order)),
    )
    live_counts = progress.get("counts", {})
    return [
        {
            "label": row.entity.replace("_", " ").capitalize(),
            "status": row.get_status_display(),
            "count": live_counts.get(row.entity, row.count),
            "last_synced_at": row.last_synced_at,
        }
        for row in rows
    ]


def _report_form(data):
    today = timezone.localdate()
    start, end = reports.default_period(today)
    initial = {"start": start, "end": end}
    return ReportPeriodForm(data, initial=initial, today=today)


def _not_synced_yet(request, connection):
    messages.warning(request, NOT_SYNCED_YET)
    return redirect("connections:detail", connection.pk)


def _filename(connection, kind, suffix):
    store = slugify(connection.store_name)[:60].strip("-") or "connection"
    return f"{store}-{kind}-{suffix}.xlsx"


def _xlsx_download(filename, write):
    """Stream a workbook that ``write`` produces, without holding it in memory."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        write(spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    response = FileResponse(
        spool, as_attachment=True, filename=filename, content_type=XLSX
    )
    response.block_size = DOWNLOAD_CHUNK_BYTES
    return response

"""Idempotency-Key for API writes: the first accepted response is replayed.

Keys belong to an organisation and environment and last 24 hours. A
request is accepted when it answers 2xx; refused requests keep no record,
so the same key may be retried with a corrected body, as Rutter does.
"""

import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from accounts.models import IdempotencyKey
from rutterdash import api_errors

HEADER = "Idempotency-Key"
JOB_ID_HEADER = "X-Rutter-Job-ID"
WRITE_METHODS = {"POST", "PATCH", "DELETE"}
LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def applies_to(request):
    return request.method in WRITE_METHODS and HEADER in request.headers


def run_once(request, view):
    """Answer the request through ``view`` at most once per key and body."""
    key = request.headers[HEADER]
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        return api_errors.invalid_idempotency_key().response()

    fingerprint = request_hash(request)
    claim = _claim(request.scope, key, fingerprint)
    if claim.request_hash != fingerprint:
        return api_errors.idempotency_key_reused().response()
    if not claim.claimed_now:
        return _replay(claim)
    return _run_and_keep(claim, request, view)


def request_hash(request):
    digest = hashlib.sha256()
    for part in (request.method, request.get_full_path()):
        digest.update(part.encode() + b"\0")
    digest.update(_canonical_body(request.body))
    return digest.hexdigest()


def _canonical_body(body):
    """The body's meaning, not its bytes: key order and spacing don't count."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    return json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()


def _claim(scope, key, fingerprint):
    existing = _existing(scope, key)
    if existing is not None:
        existing.claimed_now = False
        return existing

    claim = scope.stamp(IdempotencyKey(key=key, request_hash=fingerprint))
    try:
        with transaction.atomic():
            claim.save()
    except IntegrityError:
        # Another worker claimed the key between our read and our insert.
        return _claim(scope, key, fingerprint)
    claim.claimed_now = True
    return claim


def _existing(scope, key):
    keys = scope.all(IdempotencyKey).filter(key=key)
    expired = keys.filter(created__lt=timezone.now() - LIFETIME)
    expired.delete()
    return keys.first()


def _replay(kept):
    if kept.status is None:
        return api_errors.idempotent_request_in_progress().response()

    response = HttpResponse(
        bytes(kept.body), status=kept.status, content_type=kept.content_type
    )
    if kept.job_id:
        response[JOB_ID_HEADER] = kept.job_id
    return response


def _run_and_keep(claim, request, view):
    try:
        response = view(request)
    except BaseException:
        claim.delete()
        raise

    if not 200 <= response.status_code < 300:
        claim.delete()
        return response
    _keep(claim, response)
    return response


def _keep(claim, response):
    claim.status = response.status_code
    claim.body = response.content
    claim.content_type = response.get("Content-Type", "")
    claim.job_id = response.get(JOB_ID_HEADER, "")
    fields = ["status", "body", "content_type", "job_id"]
    claim.save(update_fields=fields)

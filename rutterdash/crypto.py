"""Secrets at rest: keyed hashes for lookup, encryption for reuse."""

import base64
import functools
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _derive(key_material, purpose):
    digest = hashlib.sha256(f"rutterdash:{purpose}:{key_material}".encode()).digest()
    return digest


def _fernet():
    return _fernet_for(tuple(settings.ENCRYPTION_KEYS))


@functools.lru_cache(maxsize=4)
def _fernet_for(key_materials):
    # Built once per key list: building costs more than decrypting a token.
    keys = [
        Fernet(base64.urlsafe_b64encode(_derive(key, "encrypt")))
        for key in key_materials
    ]
    return MultiFernet(keys)


def encrypt(plaintext):
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext):
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("Stored secret cannot be decrypted with any key") from exc


def keyed_hash(value):
    """A stable HMAC-SHA256 of a token, for looking it up without storing it."""
    key = _derive(settings.ENCRYPTION_KEYS[0], "hash")
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def hashes_match(value, expected_hash):
    return hmac.compare_digest(keyed_hash(value), expected_hash)


def new_token(prefix, nbytes=24):
    return f"{prefix}{secrets.token_urlsafe(nbytes)}"

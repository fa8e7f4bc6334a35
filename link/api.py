"""POST /versioned/item/public_token/exchange: a Link result for an access token."""

from ninja import Router, Schema

from link import services
from rutterdash.api_errors import INVALID_REQUEST, ApiError, invalid_credentials

router = Router(tags=["Tokens"])

OTHER_KEY = (
    "The client_id and secret in the body do not match the API key that "
    "authenticated the request."
)


class PublicTokenExchangeBody(Schema):
    public_token: str
    # Rutter's older clients repeat their credentials in the body.
    client_id: str | None = None
    secret: str | None = None


@router.post("/public_token/exchange", url_name="public_token_exchange")
def public_token_exchange(request, body: PublicTokenExchangeBody):
    if not _same_key(request.api_key, body):
        raise invalid_credentials(OTHER_KEY)

    try:
        connection = services.public_token_exchange(request.scope, body.public_token)
    except services.PublicTokenRefused as refusal:
        message = str(refusal)
        raise ApiError(400, INVALID_REQUEST, "INVALID_PUBLIC_TOKEN", message) from None
    return {
        "connection_id": str(connection.id),
        "access_token": connection.access_token(),
        "is_ready": connection.is_ready,
        "platform": connection.platform,
        "store_unique_name": connection.store_domain or str(connection.id),
    }


def _same_key(api_key, body):
    if body.client_id is None and body.secret is None:
        return True
    same_id = str(api_key.client_id) == (body.client_id or "")
    return api_key.check_secret(body.secret or "") and same_id

"""The Rutter-compatible REST API under /versioned/."""

from ninja import NinjaAPI

api = NinjaAPI(title="Rutterdash API", version="2023-03-14", urls_namespace="api")

from rutterdash.environments import Environment


def dashboard(request):
    scope = getattr(request, "scope", None)
    return {
        "membership": getattr(request, "membership", None),
        "scope": scope,
        "environment": scope.environment if scope else None,
        "is_sandbox": bool(scope and scope.environment == Environment.SANDBOX),
        "environments": Environment,
    }

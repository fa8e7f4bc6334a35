"""The response headers of every Link page, redirects included."""

# Link runs in a popup or a tab of its own, never in a frame; scripts and
# styles come only from our static files.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


def with_link_headers(response):
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["X-Frame-Options"] = "DENY"
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    # The popup must keep window.opener to post its result to the
    # fintech's page, which same-origin (Django's default) would cut.
    response["Cross-Origin-Opener-Policy"] = "unsafe-none"
    return response

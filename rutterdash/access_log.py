"""gunicorn's access log, kept free of tokens and of forged lines.

`manage.py serve` logs each request's path as the client sent it, still
percent-encoded and without its query string: the decoded path gunicorn
logs by default would print a `%0A` as a new line (a forged log line) and
`%1B` as a terminal escape, and query strings carry access tokens. The
user agent is escaped the same way.
"""

from gunicorn.glogging import Logger


class PathOnlyLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = environ.get("RAW_URI", "").split("?", 1)[0]
        atoms["a"] = _printable(atoms.get("a") or "-")
        return atoms


def _printable(text):
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)

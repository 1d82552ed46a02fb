"""One way to make any text safe to print: every secret a URL can carry is replaced by ``***``.

Used for every URL or error text that reaches a log line, a dead-letter reason, a notification or an error
message: passwords in the user-info part (``amqp://user:pw@host``, ``postgresql://u:pw@h/db``,
``https://u:pw@sdb``) and secret-looking query parameters (``?password=``, ``sslpassword``, ``token``,
``access_token``, ``api_key``, ``secret``, ``signature``...). Works on free text, so a whole exception
message can go through it.
"""

from __future__ import annotations

import re

MASK = "***"
_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^\s:/@?#]*):(?P<password>[^\s@/]*)@"
)
_SECRET_PARAMETER = re.compile(
    r"(?P<key>[?&;\s](?:[A-Za-z_]*password|passwd|pwd|[A-Za-z_]*token|[A-Za-z_]*secret|api_?key|key|"
    r"signature|sig|auth|authorization|credentials?)=)(?P<value>[^&\s#'\"]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<key>\bBearer\s+)(?P<value>[A-Za-z0-9._~+/=\-]+)", re.IGNORECASE)


def redact(text: object) -> str:
    """``text`` (any object, as ``str``) with every password, token or key it shows replaced by ``***``."""
    result = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", str(text))
    result = _SECRET_PARAMETER.sub(lambda m: f"{m['key']}{MASK}", result)
    return _BEARER.sub(lambda m: f"{m['key']}{MASK}", result)

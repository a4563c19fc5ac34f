"""``x-request-id``: taken from the client (when sane) or generated, echoed, and on every log line.

The id lives in a context variable for the request's task (and the tasks it
starts), so any logger can show it; ``RequestIdFilter`` puts it on each record
as ``request_id`` ("-" outside a request) for the log format to print.
"""

import logging
import re
import uuid
from contextvars import ContextVar

from aiohttp import web

HEADER = "x-request-id"
_SANE = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
current: ContextVar[str] = ContextVar("switchboard_request_id", default="-")


def request_id_for(request: web.BaseRequest) -> str:
    """The client's id when it is short printable text (it goes into logs), else a fresh one."""
    given = request.headers.get(HEADER, "")
    return given if _SANE.fullmatch(given) else uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (install on the handlers whose format prints it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):  # records written for a request elsewhere carry their own
            record.request_id = current.get()
        return True

"""A worker's log records masked before any handler writes them (its log file, its stderr, a pod's log).

Locust logs a python user's failing task itself (`logger.error("%s\\n%s", e, traceback.format_exc())`), and the
exception's message may quote a token the user captured, or a URL with `?access_token=...`: each record is
rendered whole (message, traceback, stack) and passed through the worker's mask before it is formatted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

_RENDER = logging.Formatter()  # renders a record's traceback and stack as every formatter does


class MaskedRecords(logging.Filter):
    """Replaces a record's message, arguments, traceback and stack with the mask of their rendered text."""

    def __init__(self, mask: Callable[[str], str]) -> None:
        super().__init__()
        self.mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # arguments that do not fit the format: their text, masked all the same
            text = f"{record.msg!s} {record.args!r}"
        if record.exc_info and not record.exc_text:
            record.exc_text = _RENDER.formatException(record.exc_info)
        if record.exc_text:
            text += ("" if text.endswith("\n") else "\n") + record.exc_text
        if record.stack_info:
            text += "\n" + _RENDER.formatStack(record.stack_info)
        record.msg, record.args = self.mask(text), None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def mask_logs(mask: Callable[[str], str]) -> None:
    """Every handler of the root logger (where the records of every logger of the process end) masks with `mask`."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskedRecords(mask))

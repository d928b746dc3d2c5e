"""A worker's log records (runtime/masklog.py): message, arguments, traceback and stack masked before any handler
formats them."""

from __future__ import annotations

import io
import logging

from loadorch.runtime.masklog import MaskedRecords


def _logger(stream: io.StringIO) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(MaskedRecords(lambda text: text.replace("capTok123456", "***")))
    logger = logging.getLogger(f"test_masklog.{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    return logger


def test_the_message_its_arguments_and_the_traceback_are_masked_and_still_written() -> None:
    stream = io.StringIO()
    logger = _logger(stream)
    try:
        raise RuntimeError("bad answer for capTok123456")
    except RuntimeError as exc:
        logger.error("%s\n%s", exc, "url ?t=capTok123456", exc_info=True)  # as Locust logs a task's exception
    logger.warning("with %d%% and its stack capTok123456", 5, stack_info=True)
    text = stream.getvalue()
    assert "capTok" not in text, text
    assert "ERROR bad answer for ***\nurl ?t=***\nTraceback (most recent call last):" in text, text
    assert "RuntimeError: bad answer for ***" in text and "WARNING with 5% and its stack ***\nStack (most" in text


def test_a_record_whose_arguments_do_not_fit_its_format_is_masked_not_raised() -> None:
    stream = io.StringIO()
    _logger(stream).error("%s and %s", "capTok123456")  # one argument short
    assert "capTok" not in stream.getvalue() and "***" in stream.getvalue()

"""How `serve` logs: the service's own messages (and uvicorn's) on stderr, as JSON lines or text.

The access log is not here: EdgeMiddleware writes it to stdout itself (http/accesslog.py), and
uvicorn's own access log stays off, so each request is one line.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, Any] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


TEXT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def log_config(*, level: str, fmt: str) -> dict[str, Any]:
    """A logging.config.dictConfig for uvicorn.Config(log_config=...). uvicorn's own lines (start,
    stop, errors) only from warning up, or everything at debug: the banner `serve` prints says the rest."""
    server_level = "DEBUG" if level == "debug" else "WARNING"
    formatter = {"()": f"{__name__}.JsonFormatter"} if fmt == "json" else {"format": TEXT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": server_level, "propagate": False},
            "uvicorn.error": {"level": server_level},
            # Ours is the access log (stdout); uvicorn's would be a second line per request.
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "trainer_ops": {"handlers": ["default"], "level": level.upper(), "propagate": False},
        },
    }

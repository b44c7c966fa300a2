"""The `weft` helper that scripts run by the python-runner see.

The runner puts this module in every script's globals as `weft`, so a script
needs no import (`import weft` works too). It offers:

- `weft.TransientError`, `weft.PermanentError`, `weft.InvalidInput`: raise one
  to end the run with that skill-error kind and the exception's message.
- `weft.log(level, message)` and `weft.trace/debug/info/warn/error(message)`:
  log lines kept by the host (`level` is "trace", "debug", "info", "warn" or
  "error").
- `weft.call_tool(server, tool, arguments)`: call a tool on an MCP server
  granted to the step; `arguments` is JSON-serialisable (usually a dict), the
  result is the tool's JSON result, decoded. A failure raises the weft error
  of the matching kind.
"""

import json as _json

from componentize_py_types import Err as _Err
from wit_world.imports import host as _host
from wit_world.imports.types import ErrorKind as _ErrorKind

__all__ = [
    "WeftError",
    "TransientError",
    "PermanentError",
    "InvalidInput",
    "log",
    "trace",
    "debug",
    "info",
    "warn",
    "warning",
    "error",
    "call_tool",
]


class WeftError(Exception):
    """Base class of the errors a script raises to report a failure by kind."""

    kind = "permanent"

    @property
    def message(self):
        return str(self)


class TransientError(WeftError):
    """A failure that a retry may fix (a service down, a rate limit)."""

    kind = "transient"


class PermanentError(WeftError):
    """A failure that a retry will not fix."""

    kind = "permanent"


class InvalidInput(WeftError):
    """The input is unusable: the run refuses it."""

    kind = "invalid-input"


_LEVELS = {
    "trace": _host.Level.TRACE,
    "debug": _host.Level.DEBUG,
    "info": _host.Level.INFO,
    "warn": _host.Level.WARN,
    "warning": _host.Level.WARN,
    "error": _host.Level.ERROR,
}

_KINDS = {
    _ErrorKind.TRANSIENT: TransientError,
    _ErrorKind.PERMANENT: PermanentError,
    _ErrorKind.INVALID_INPUT: InvalidInput,
}


def utf8_safe(text):
    """`text` as it can cross to the host, which takes UTF-8: a lone
    surrogate (which a Python str may hold and UTF-8 cannot) is written as
    its \\udXXX escape. Not exported to scripts."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def log(level, message):
    """Logs `message` at `level` ("trace", "debug", "info", "warn", "error")."""
    lvl = _LEVELS.get(str(level).lower())
    if lvl is None:
        raise ValueError(f"unknown log level {level!r}; use one of trace, debug, info, warn, error")
    _host.log(lvl, utf8_safe(str(message)))


def trace(message):
    log("trace", message)


def debug(message):
    log("debug", message)


def info(message):
    log("info", message)


def warn(message):
    log("warn", message)


warning = warn


def error(message):
    log("error", message)


def call_tool(server, tool, arguments=None):
    """Calls `tool` on the MCP `server` granted to this step and returns its
    decoded JSON result; raises TransientError, PermanentError or InvalidInput
    when the call fails."""
    args = _json.dumps({} if arguments is None else arguments)
    try:
        result = _host.call_tool(utf8_safe(str(server)), utf8_safe(str(tool)), args)
    except _Err as e:
        err = e.value
        raise _KINDS.get(err.kind, PermanentError)(err.message) from None
    try:
        return _json.loads(result)
    except ValueError:
        return result

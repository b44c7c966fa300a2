"""python-runner: a weft:skill component that runs a Python script.

Input: {"source": "<script text>", "input": <any JSON>, "filename": "<name>"}.
The script defines `run(input)`; the runner calls it with the decoded `input`
and returns what it returns, as JSON. See docs/scripts.md.

componentize-py can only import modules at build time (its pre-initialisation
snapshot), so every standard-library module a script may import is imported
below; a module not listed there cannot be imported by a script.
"""

import builtins
import json
import linecache
import reprlib
import sys
import traceback
import types

import weft
import wit_world
from componentize_py_types import Err
from wit_world.imports.types import ErrorKind, SkillError, SkillInfo

# The standard library offered to scripts: imported now so that it is in the
# snapshot (`import x` in a script then finds it in sys.modules).
import abc  # noqa: F401,E402
import array  # noqa: F401,E402
import ast  # noqa: F401,E402
import base64  # noqa: F401,E402
import binascii  # noqa: F401,E402
import bisect  # noqa: F401,E402
import calendar  # noqa: F401,E402
import cmath  # noqa: F401,E402
import collections  # noqa: F401,E402
import collections.abc  # noqa: F401,E402
import colorsys  # noqa: F401,E402
import contextlib  # noqa: F401,E402
import copy  # noqa: F401,E402
import csv  # noqa: F401,E402
import dataclasses  # noqa: F401,E402
import datetime  # noqa: F401,E402
import decimal  # noqa: F401,E402
import difflib  # noqa: F401,E402
import enum  # noqa: F401,E402
import errno  # noqa: F401,E402
import fnmatch  # noqa: F401,E402
import fractions  # noqa: F401,E402
import functools  # noqa: F401,E402
import glob  # noqa: F401,E402
import graphlib  # noqa: F401,E402
import hashlib  # noqa: F401,E402
import heapq  # noqa: F401,E402
import hmac  # noqa: F401,E402
import html  # noqa: F401,E402
import html.parser  # noqa: F401,E402
import io  # noqa: F401,E402
import ipaddress  # noqa: F401,E402
import itertools  # noqa: F401,E402
import keyword  # noqa: F401,E402
import math  # noqa: F401,E402
import numbers  # noqa: F401,E402
import operator  # noqa: F401,E402
import os  # noqa: F401,E402
import os.path  # noqa: F401,E402
import pathlib  # noqa: F401,E402
import pprint  # noqa: F401,E402
import random  # noqa: F401,E402
import re  # noqa: F401,E402
import secrets  # noqa: F401,E402
import shlex  # noqa: F401,E402
import socket  # noqa: F401,E402
import statistics  # noqa: F401,E402
import string  # noqa: F401,E402
import struct  # noqa: F401,E402
import textwrap  # noqa: F401,E402
import time  # noqa: F401,E402
import tomllib  # noqa: F401,E402
import typing  # noqa: F401,E402
import unicodedata  # noqa: F401,E402
import urllib.parse  # noqa: F401,E402
import uuid  # noqa: F401,E402
import zlib  # noqa: F401,E402

NAME = "python-runner"
VERSION = "0.1.0"
DEFAULT_FILENAME = "script.py"

INPUT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ScriptRun",
    "description": "A Python script and the input to call its run(input) with.",
    "type": "object",
    "properties": {
        "source": {
            "type": "string",
            "description": "The script's text. It defines run(input) and returns a JSON-serialisable value.",
        },
        "input": {"description": "Any JSON value, passed to run(input) decoded (null when absent)."},
        "filename": {
            "type": "string",
            "description": "The script's name in tracebacks and syntax errors (default: script.py).",
        },
    },
    "required": ["source"],
    "additionalProperties": False,
}

NO_RUN = "the script defines no run(input) function"

_KINDS = {
    "transient": ErrorKind.TRANSIENT,
    "permanent": ErrorKind.PERMANENT,
    "invalid-input": ErrorKind.INVALID_INPUT,
}

_repr = reprlib.Repr()
_repr.maxlevel = 4
_repr.maxstring = 200
_repr.maxother = 200
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxfrozenset = _repr.maxdict = 20


def _fail(kind, message):
    return Err(SkillError(kind, message))


def _short_repr(value):
    try:
        return _repr.repr(value)
    except Exception:  # a broken __repr__
        return f"<{type(value).__name__} object>"


def _exit_message(exc):
    code = exc.code
    call = "sys.exit()" if code is None else f"sys.exit({code!r})"
    return f"the script exited ({call}) instead of returning a value"


def _script_traceback(exc, filename):
    """The traceback of `exc` from the script's first frame on (the runner's
    own frames say nothing useful)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    if tb is None:
        tb = exc.__traceback__
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip("\n")


def _syntax_message(exc, filename):
    where = f"{exc.filename or filename}, line {exc.lineno}"
    if exc.offset:
        where += f", column {exc.offset}"
    detail = "".join(traceback.format_exception_only(type(exc), exc)).rstrip("\n")
    return f"{type(exc).__name__} in {where}: {exc.msg}\n{detail}"


def _weft_module():
    """A fresh `weft` namespace for one script (the classes are shared)."""
    mod = types.ModuleType("weft", weft.__doc__)
    for name in weft.__all__:
        setattr(mod, name, getattr(weft, name))
    return mod


def _call(source, filename, script_input):
    """Runs the script; returns its JSON output text, or raises Err."""
    # Tracebacks show the script's lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:  # ValueError: NUL bytes in the source
        if isinstance(e, SyntaxError):
            raise _fail(ErrorKind.INVALID_INPUT, _syntax_message(e, filename)) from None
        raise _fail(ErrorKind.INVALID_INPUT, f"the script cannot be compiled: {e}") from None

    namespace = {
        "__name__": "__script__",
        "__file__": filename,
        "__builtins__": builtins,
        "weft": _weft_module(),
    }
    stage = "loading"
    try:
        exec(code, namespace)
        fn = namespace.get("run")
        if not callable(fn):
            raise _fail(ErrorKind.INVALID_INPUT, NO_RUN)
        stage = "running"
        value = fn(script_input)
    except Err:
        raise
    except weft.WeftError as e:
        raise _fail(_KINDS.get(e.kind, ErrorKind.PERMANENT), str(e)) from None
    except SystemExit as e:
        raise _fail(ErrorKind.PERMANENT, _exit_message(e)) from None
    except MemoryError:
        # Let it trap: the host sees that its memory cap refused the guest
        # and reports memory_limit.
        raise
    except BaseException as e:
        message = _script_traceback(e, filename)
        if stage == "loading":
            message = f"the script failed while loading, before run(input):\n{message}"
        raise _fail(ErrorKind.PERMANENT, message) from None

    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except MemoryError:
        raise
    except (TypeError, ValueError, RecursionError):
        # Deliberately not JSON: the host reports a contract violation.
        return f"not JSON: {_short_repr(value)}"


class WitWorld(wit_world.WitWorld):
    def describe(self) -> SkillInfo:
        return SkillInfo(
            name=NAME,
            version=VERSION,
            description=(
                "Runs a Python script: calls the run(input) it defines with `input` "
                "and returns what it returns (see docs/scripts.md)."
            ),
            input_schema=json.dumps(INPUT_SCHEMA),
            output_schema="{}",
        )

    def run(self, input: str) -> str:
        try:
            request = json.loads(input)
        except ValueError as e:
            raise _fail(ErrorKind.INVALID_INPUT, f"the input is not JSON: {e}") from None
        if not isinstance(request, dict) or not isinstance(request.get("source"), str):
            raise _fail(ErrorKind.INVALID_INPUT, 'the input must be {"source": "<script>", "input": ...}')
        filename = request.get("filename")
        if not isinstance(filename, str) or not filename:
            filename = DEFAULT_FILENAME
        return _call(request["source"], filename, request.get("input"))

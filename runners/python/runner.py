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
import traceback
import types

import weft
import wit_world
from componentize_py_types import Err
from wit_world.imports.types import ErrorKind, SkillError, SkillInfo

# The standard library offered to scripts: imported now so that it is in the
# snapshot (`import x` in a script then finds it in sys.modules).
import abc  # noqa: E402,F401
import array  # noqa: E402,F401
import ast  # noqa: E402,F401
import base64  # noqa: E402,F401
import binascii  # noqa: E402,F401
import bisect  # noqa: E402,F401
import calendar  # noqa: E402,F401
import cmath  # noqa: E402,F401
import codecs  # noqa: E402,F401
import collections  # noqa: E402,F401
import collections.abc  # noqa: E402,F401
import colorsys  # noqa: E402,F401
import configparser  # noqa: E402,F401
import contextlib  # noqa: E402,F401
import contextvars  # noqa: E402,F401
import copy  # noqa: E402,F401
import csv  # noqa: E402,F401
import dataclasses  # noqa: E402,F401
import datetime  # noqa: E402,F401
import decimal  # noqa: E402,F401
import difflib  # noqa: E402,F401
import email  # noqa: E402,F401
import email.message  # noqa: E402,F401
import email.parser  # noqa: E402,F401
import email.utils  # noqa: E402,F401
import enum  # noqa: E402,F401
import errno  # noqa: E402,F401
import fnmatch  # noqa: E402,F401
import fractions  # noqa: E402,F401
import functools  # noqa: E402,F401
import glob  # noqa: E402,F401
import graphlib  # noqa: E402,F401
import gzip  # noqa: E402,F401
import hashlib  # noqa: E402,F401
import heapq  # noqa: E402,F401
import hmac  # noqa: E402,F401
import html  # noqa: E402,F401
import html.entities  # noqa: E402,F401
import html.parser  # noqa: E402,F401
import io  # noqa: E402,F401
import ipaddress  # noqa: E402,F401
import itertools  # noqa: E402,F401
import json  # noqa: E402,F401
import keyword  # noqa: E402,F401
import logging  # noqa: E402,F401
import math  # noqa: E402,F401
import mimetypes  # noqa: E402,F401
import numbers  # noqa: E402,F401
import operator  # noqa: E402,F401
import os  # noqa: E402,F401
import os.path  # noqa: E402,F401
import pathlib  # noqa: E402,F401
import pickle  # noqa: E402,F401
import plistlib  # noqa: E402,F401
import pprint  # noqa: E402,F401
import queue  # noqa: E402,F401
import quopri  # noqa: E402,F401
import random  # noqa: E402,F401
import re  # noqa: E402,F401
import secrets  # noqa: E402,F401
import shlex  # noqa: E402,F401
import shutil  # noqa: E402,F401
import socket  # noqa: E402,F401
import sqlite3  # noqa: E402,F401
import statistics  # noqa: E402,F401
import string  # noqa: E402,F401
import struct  # noqa: E402,F401
import tarfile  # noqa: E402,F401
import tempfile  # noqa: E402,F401
import textwrap  # noqa: E402,F401
import time  # noqa: E402,F401
import tomllib  # noqa: E402,F401
import typing  # noqa: E402,F401
import unicodedata  # noqa: E402,F401
import urllib.parse  # noqa: E402,F401
import uuid  # noqa: E402,F401
import xml.dom.minidom  # noqa: E402,F401
import xml.etree.ElementTree  # noqa: E402,F401
import zipfile  # noqa: E402,F401
import zlib  # noqa: E402,F401

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
    # What crosses to the host must be UTF-8: an exception's message may hold
    # lone surrogates, which would otherwise abort the runner.
    return Err(SkillError(kind, weft.utf8_safe(message)))


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
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except MemoryError:
        raise
    except Exception:  # TypeError, ValueError, RecursionError, or a broken __iter__ or __eq__
        # Deliberately not JSON: the host reports a contract violation.
        return weft.utf8_safe(f"not JSON: {_short_repr(value)}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        # JSON text is UTF-8, which cannot carry a lone surrogate: the host
        # reports a contract violation.
        bad = weft.utf8_safe(text[e.start : e.end])
        return f"not JSON: the output holds a lone surrogate ({bad} at character {e.start}), which UTF-8 cannot carry"
    return text


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


def _warm_up():
    """Runs a small script once at build time, so that the snapshot holds
    what every run would otherwise set up first (the compiler's and the
    interpreter's caches, the JSON codec): a run then writes fewer pages."""
    source = (
        "def run(input):\n"
        "    words = [w.strip('.,') for w in str(input.get('text', '')).split()]\n"
        "    return {'count': len(words), 'first': words[0] if words else None, 'ok': True}\n"
    )
    for _ in range(3):
        _call(source, "warm-up.py", json.loads('{"text": "one two, three."}'))
    linecache.cache.pop("warm-up.py", None)


_warm_up()

"""slugify: turns a text into a URL slug, as a weft skill written in Python.

Built with componentize-py against wit/skill.wit (world `skill`) by
runners/build.sh, into target/skills/slugify.wasm. componentize-py generates
the `wit_world` bindings at build time: the class `WitWorld` below implements
the world's exports (`describe`, `run`) and `wit_world.imports.host` holds its
imports (`log`, `call_tool`).
"""

import json
import re
import unicodedata

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import ErrorKind, SkillError, SkillInfo

INPUT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Text",
    "type": "object",
    "properties": {"text": {"type": "string", "description": "The text to make a slug of."}},
    "required": ["text"],
    "additionalProperties": False,
}

OUTPUT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Slug",
    "type": "object",
    "properties": {
        "slug": {
            "type": "string",
            "description": "Lowercase letters and digits in runs joined by single dashes, none at either end.",
            "minLength": 1,
            "pattern": "^[^-](.*[^-])?$",
        }
    },
    "required": ["slug"],
    "additionalProperties": False,
}

_NOT_ALNUM = re.compile(r"[\W_]+")  # \W is Unicode-aware: letters and digits of any script stay


def slugify(text: str) -> str:
    """Lowercase; accents dropped (é -> e); every run of characters that are not
    letters or digits becomes one dash; no dash at either end."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_ALNUM.sub("-", plain.lower()).strip("-")


class WitWorld(wit_world.WitWorld):
    def describe(self) -> SkillInfo:
        return SkillInfo(
            name="slugify",
            version="0.1.0",
            description="Turns a text into a URL slug: lowercase, accents dropped, other characters collapsed to dashes.",
            input_schema=json.dumps(INPUT_SCHEMA),
            output_schema=json.dumps(OUTPUT_SCHEMA),
        )

    def run(self, input: str) -> str:
        # The host has already checked the input against INPUT_SCHEMA.
        text = json.loads(input)["text"]
        slug = slugify(text)
        if not slug:
            raise Err(SkillError(ErrorKind.INVALID_INPUT, "the text has no letters or digits to make a slug of"))
        host.log(host.Level.INFO, f"slugified {len(text)} characters into {slug!r}")
        return json.dumps({"slug": slug}, ensure_ascii=False)

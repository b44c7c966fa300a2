// title-case: turns a text into Title Case, as a weft skill written in
// JavaScript.
//
// Built with componentize-qjs (QuickJS) against wit/skill.wit (world `skill`)
// by runners/build.sh, into target/skills/title-case.wasm. The module exports
// the world's exports (`describe`, `run`); the world's imports are ES modules
// named after their WIT interface ("weft:skill/host@0.1.0"). WIT names become
// camelCase (`input-schema` -> `inputSchema`, `call-tool` -> `callTool`), enums
// are strings ("info"), and a `result<string, skill-error>` export returns the
// string or throws a `{kind, message}` object.

import * as host from "weft:skill/host@0.1.0";

const INPUT_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "Text",
  type: "object",
  properties: { text: { type: "string", description: "The text to put in title case." } },
  required: ["text"],
  additionalProperties: false,
};

const OUTPUT_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "Title",
  type: "object",
  properties: { title: { type: "string", description: "The text in title case." } },
  required: ["title"],
  additionalProperties: false,
};

// Short words that stay lowercase inside a title (English style guides).
const SMALL = new Set([
  "a", "an", "and", "as", "at", "but", "by", "for", "in", "nor", "of", "on", "or", "per", "the", "to", "via", "vs",
]);

function capitalize(word) {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

// Capitalises each word; small words stay lowercase unless first or last.
// Words already holding a capital (NASA, iPhone) are left as they are; the
// parts of a hyphenated word are treated as words.
function titleCase(text) {
  const words = text.split(/(\s+)/);
  const real = words.map((w, i) => (i % 2 === 0 && w !== "" ? i : -1)).filter((i) => i >= 0);
  const first = real[0];
  const last = real[real.length - 1];
  return words
    .map((word, i) => {
      if (i % 2 === 1 || word === "") return word;
      return word
        .split("-")
        .map((part, j, parts) => {
          if (part !== part.toLowerCase()) return part;
          const edge = (i === first && j === 0) || (i === last && j === parts.length - 1);
          return !edge && SMALL.has(part) ? part : capitalize(part);
        })
        .join("-");
    })
    .join("");
}

export function describe() {
  return {
    name: "title-case",
    version: "0.1.0",
    description: "Puts a text in title case: words capitalised, short words like 'of' and 'the' kept lowercase inside.",
    inputSchema: JSON.stringify(INPUT_SCHEMA),
    outputSchema: JSON.stringify(OUTPUT_SCHEMA),
  };
}

export function run(input) {
  // The host has already checked the input against INPUT_SCHEMA.
  const { text } = JSON.parse(input);
  if (text.trim() === "") {
    throw { kind: "invalid-input", message: "the text is empty" };
  }
  const title = titleCase(text);
  host.log("info", `title-cased ${text.length} characters`);
  return JSON.stringify({ title });
}

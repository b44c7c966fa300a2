// js-runner: a weft:skill component that runs a JavaScript script (QuickJS,
// built with componentize-qjs).
//
// Input: {"source": "<script text>", "input": <any JSON>, "filename": "<name>"}.
// The script defines `function run(input)`; the runner calls it with the
// decoded `input` and returns what it returns, as JSON. The script sees a
// global `weft` (errors by kind, logging, MCP tools) and a `console` whose
// lines go to the host log. See docs/scripts.md.

import * as host from "weft:skill/host@0.1.0";
import * as random from "wasi:random/random@0.2.12";

const NAME = "js-runner";
const VERSION = "0.1.0";
const DEFAULT_FILENAME = "script.js";
const NO_RUN = "the script defines no run(input) function";
const EXPORT_LIST = /^[ \t]*export[ \t]*\{[^}\n]*\}[ \t]*;?/gm;
const EXPORT_PREFIX = /^([ \t]*)export[ \t]+(?:default[ \t]+)?(async[ \t]+function\b|function\b|const\b|let\b|var\b|class\b)/gm;

const INPUT_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "ScriptRun",
  description: "A JavaScript script and the input to call its run(input) with.",
  type: "object",
  properties: {
    source: {
      type: "string",
      description: "The script's text. It defines function run(input) and returns a JSON-serialisable value.",
    },
    input: { description: "Any JSON value, passed to run(input) decoded (null when absent)." },
    filename: {
      type: "string",
      description: "The script's name in stack traces and syntax errors (default: script.js).",
    },
  },
  required: ["source"],
  additionalProperties: false,
};

// ---- text that crosses to the host ------------------------------------------------
//
// The host takes UTF-8, which cannot carry a lone surrogate (a JavaScript
// string can hold one): every string the runner hands the host goes through
// wellFormed, which writes a lone surrogate as its \uXXXX escape.

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function wellFormed(s) {
  const text = String(s);
  return text.replace(LONE_SURROGATE, (m) => "\\u" + m.charCodeAt(0).toString(16));
}

// ---- the `weft` global -----------------------------------------------------

class WeftError extends Error {
  constructor(message) {
    super(message === undefined ? "" : String(message));
    this.name = new.target.name;
  }
  get kind() {
    return "permanent";
  }
}
class TransientError extends WeftError {
  get kind() {
    return "transient";
  }
}
class PermanentError extends WeftError {
  get kind() {
    return "permanent";
  }
}
class InvalidInput extends WeftError {
  get kind() {
    return "invalid-input";
  }
}

const ERROR_CLASSES = {
  transient: TransientError,
  permanent: PermanentError,
  "invalid-input": InvalidInput,
};

const LEVELS = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warn: "warn",
  warning: "warn",
  error: "error",
};

function log(level, message) {
  const lvl = LEVELS[String(level).toLowerCase()];
  if (lvl === undefined) {
    throw new TypeError(`unknown log level ${JSON.stringify(String(level))}; use one of trace, debug, info, warn, error`);
  }
  host.log(lvl, wellFormed(typeof message === "string" ? message : show(message)));
}

function callTool(server, tool, args) {
  const text = JSON.stringify(args === undefined || args === null ? {} : args);
  let result;
  try {
    result = host.callTool(wellFormed(server), wellFormed(tool), text);
  } catch (e) {
    const payload = e && e.payload;
    if (payload && typeof payload.message === "string") {
      const Class = ERROR_CLASSES[payload.kind] || PermanentError;
      throw new Class(payload.message);
    }
    throw e;
  }
  try {
    return JSON.parse(result);
  } catch {
    return result;
  }
}

function makeWeft() {
  return Object.freeze({
    WeftError,
    TransientError,
    PermanentError,
    InvalidInput,
    log,
    trace: (m) => log("trace", m),
    debug: (m) => log("debug", m),
    info: (m) => log("info", m),
    warn: (m) => log("warn", m),
    error: (m) => log("error", m),
    callTool,
  });
}

function makeConsole() {
  const line = (args) => args.map((a) => (typeof a === "string" ? a : show(a))).join(" ");
  return Object.freeze({
    log: (...a) => host.log("info", wellFormed(line(a))),
    info: (...a) => host.log("info", wellFormed(line(a))),
    debug: (...a) => host.log("debug", wellFormed(line(a))),
    trace: (...a) => host.log("trace", wellFormed(line(a))),
    warn: (...a) => host.log("warn", wellFormed(line(a))),
    error: (...a) => host.log("error", wellFormed(line(a))),
  });
}

// ---- randomness ----------------------------------------------------------------
//
// The runner's heap is a snapshot taken at build time, QuickJS's Math.random
// state included: left alone, every run would draw the same numbers. Each run
// reseeds it from the host's random source (wasi:random, the one import the
// runner adds to the weft:skill world), which also backs crypto.getRandomValues.

function randomBytes(n) {
  return random.getRandomBytes(n);
}

// xoshiro128** over four 32-bit words, seeded from the host.
function makeMathRandom() {
  const seed = randomBytes(16);
  const s = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    s[i] = (seed[4 * i] | (seed[4 * i + 1] << 8) | (seed[4 * i + 2] << 16) | (seed[4 * i + 3] << 24)) >>> 0;
  }
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
  const rotl = (x, k) => ((x << k) | (x >>> (32 - k))) >>> 0;
  const next = () => {
    const result = (rotl(Math.imul(s[1], 5) >>> 0, 7) * 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };
  // 53 random bits, like the engines' own Math.random.
  return function random() {
    return ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
  };
}

function makeCrypto() {
  return Object.freeze({
    getRandomValues(array) {
      if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array || array instanceof DataView) {
        throw new TypeError("crypto.getRandomValues: expected an integer typed array");
      }
      if (array.byteLength > 65536) {
        throw new RangeError("crypto.getRandomValues: at most 65536 bytes at a time");
      }
      const bytes = randomBytes(array.byteLength);
      new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bytes);
      return array;
    },
    randomUUID() {
      const b = randomBytes(16);
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    },
  });
}

// ---- showing values (for messages) -----------------------------------------

// A short description of any value, for messages. Never throws: a value may
// be a Proxy whose every trap throws, or have throwing getters.
function show(value) {
  try {
    return showValue(value);
  } catch {
    return "[a value that cannot be shown]";
  }
}

function showValue(value, depth = 0, seen = new Set()) {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 200 ? value.slice(0, 200) + "..." : value);
    case "number":
    case "boolean":
      return String(value);
    case "bigint":
      return `${value}n`;
    case "undefined":
      return "undefined";
    case "symbol":
      return value.toString();
    case "function":
      return `[Function: ${value.name || "(anonymous)"}]`;
  }
  if (value === null) return "null";
  if (seen.has(value)) return "[Circular]";
  if (depth > 3) return Array.isArray(value) ? "[Array]" : "[Object]";
  seen.add(value);
  try {
    if (typeof value.then === "function") return "Promise {}";
    if (value instanceof Map) return `Map(${value.size}) {...}`;
    if (value instanceof Set) {
      const items = [...value].slice(0, 20).map((v) => showValue(v, depth + 1, seen));
      return `Set(${value.size}) {${items.join(", ")}${value.size > 20 ? ", ..." : ""}}`;
    }
    if (value instanceof Error) return `${value.name}: ${value.message}`;
    if (Array.isArray(value)) {
      const items = value.slice(0, 20).map((v) => showValue(v, depth + 1, seen));
      return `[${items.join(", ")}${value.length > 20 ? ", ..." : ""}]`;
    }
    const keys = Object.keys(value);
    const items = keys.slice(0, 20).map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${showValue(value[k], depth + 1, seen)}`);
    const ctor = value.constructor && value.constructor !== Object ? `${value.constructor.name} ` : "";
    return `${ctor}{${items.join(", ")}${keys.length > 20 ? ", ..." : ""}}`;
  } catch {
    return "[object]";
  } finally {
    seen.delete(value);
  }
}

// ---- results and errors ------------------------------------------------------

class NotJSON extends Error {}

// The JSON text of `value`, or null if it is not JSON. Refuses what
// JSON.stringify would drop or mangle silently. Never throws: a getter or a
// Proxy trap that throws while the value is serialised makes it not JSON.
function toJSONText(value) {
  if (value === undefined) return "null";
  try {
    const text = JSON.stringify(value, function (key, v) {
      const t = typeof v;
      if (t === "function" || t === "symbol" || t === "bigint" || (t === "number" && !Number.isFinite(v))) {
        throw new NotJSON();
      }
      if (v !== null && t === "object" && (v instanceof Map || v instanceof Set || v instanceof WeakMap || v instanceof WeakSet || typeof v.then === "function")) {
        throw new NotJSON();
      }
      return v;
    });
    return text === undefined ? null : text;
  } catch (e) {
    if (isOutOfMemory(e)) throw OUT_OF_MEMORY;
    return null; // NotJSON, a TypeError (a cycle), or what a getter or trap threw
  }
}

function fail(kind, message) {
  // componentize-qjs: throwing a skill-error record from an export returns err.
  return { kind: Object.prototype.hasOwnProperty.call(ERROR_CLASSES, kind) ? kind : "permanent", message: wellFormed(message) };
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const BARE_POSITION = /^\s*at <input>:\d+:\d+\s*$/; // where a parser (eval, JSON.parse) stopped
const EVAL_FRAME = /^\s*at eval \(native\)\s*$/;
const SCRIPT_FRAME = /\(<input>:\d+:\d+\)/;
// This module's own name in stack frames (the path it was built from).
const RUNNER_FILE = (/\(([^()]*):\d+:\d+\)/.exec(String(new Error().stack)) || [])[1] || "/runner.js";
const RUNNER_FRAME = new RegExp(`\\(${escapeRegExp(RUNNER_FILE)}:\\d+:\\d+\\)\\s*$`);

function stackLines(e) {
  return (typeof e.stack === "string" ? e.stack : "").split("\n").filter((l) => l.trim() !== "");
}

// The stack of an error raised in the script, in the script's own terms:
// "<input>" (the eval's name) becomes the script's filename, and the
// runner's own frames and the eval that loaded the script are dropped.
function scriptStack(e, filename) {
  const lines = [];
  for (const line of stackLines(e)) {
    if (EVAL_FRAME.test(line)) break;
    if (BARE_POSITION.test(line) || RUNNER_FRAME.test(line)) continue;
    lines.push(line.replace(/<input>/g, filename).replace(/at <eval> \(/, "at <script> ("));
  }
  return lines.join("\n");
}

// Whether `e` is the script's own syntax error: the eval that loads the
// script stopped parsing (a bare position right above the eval) before any
// of the script ran (no frame in the script).
function isScriptSyntaxError(e) {
  if (!(e instanceof SyntaxError)) return false;
  const lines = stackLines(e);
  return lines.length >= 2 && BARE_POSITION.test(lines[0]) && EVAL_FRAME.test(lines[1]) && !lines.some((l) => SCRIPT_FRAME.test(l));
}

function formatError(e, filename) {
  if (e instanceof Error || (e && typeof e === "object" && "message" in e && "stack" in e)) {
    const head = `${e.name || "Error"}: ${e.message}`;
    const stack = scriptStack(e, filename);
    return stack ? `${head}\n${stack}` : head;
  }
  return `uncaught exception: ${show(e)}`;
}

function syntaxMessage(e, source, filename) {
  const m = /<input>:(\d+):(\d+)/.exec(typeof e.stack === "string" ? e.stack : "");
  if (!m) return `SyntaxError in ${filename}: ${e.message}`;
  const line = Number(m[1]);
  const col = Number(m[2]);
  let message = `SyntaxError in ${filename}, line ${line}, column ${col}: ${e.message}`;
  const text = source.split("\n")[line - 1];
  if (text !== undefined && text.length <= 300) {
    const gutter = String(line);
    message += `\n  ${gutter} | ${text}\n  ${" ".repeat(gutter.length)} | ${" ".repeat(Math.max(0, col - 1))}^`;
  }
  if (text !== undefined && /^\s*import\b/.test(text)) {
    message += "\nA script cannot import modules: what it can use is built in (see docs/scripts.md).";
  }
  return message;
}

// QuickJS throws InternalError("out of memory") when an allocation fails;
// and the runtime's glue, when it cannot allocate the message of an error it
// raises, InternalError("Invalid error message").
function isOutOfMemory(e) {
  return e instanceof InternalError && /^(out of memory|invalid error message)$/i.test(e.message);
}

// Thrown from the export to trap (componentize-qjs traps on an exception that
// is not a skill-error). Made in advance: there may be no memory left to make
// them when they are needed.
const OUT_OF_MEMORY = new Error("out of memory");
// When QuickJS cannot even allocate its out-of-memory error it throws null,
// which the runner cannot tell from a script's own `throw null`.
const THREW_NULL = new Error(
  "the script threw null, or QuickJS ran out of memory (it then throws null): the runner cannot tell which",
);

// What to throw from the export for an exception that escaped the script: a
// skill-error, or, for out of memory (and null), an error that traps; the
// host, which knows whether its memory cap refused the guest, then reports
// memory_limit or, for a script's own `throw null`, a trap.
function scriptFailure(e, stage, source, filename) {
  try {
    return describeFailure(e, stage, source, filename);
  } catch {
    // The thrown value's getters or Proxy traps threw while it was described.
    return fail("permanent", `the script threw ${show(e)}, whose details cannot be read`);
  }
}

function describeFailure(e, stage, source, filename) {
  if (e instanceof WeftError) return fail(String(e.kind), String(e.message));
  if (isOutOfMemory(e)) return OUT_OF_MEMORY;
  if (e === null) return THREW_NULL;
  if (stage === "loading" && isScriptSyntaxError(e)) {
    return fail("invalid-input", syntaxMessage(e, source, filename));
  }
  const message = formatError(e, filename);
  return fail("permanent", stage === "loading" ? `the script failed while loading, before run(input):\n${message}` : message);
}

// ---- the exports -------------------------------------------------------------

export function describe() {
  return {
    name: NAME,
    version: VERSION,
    description:
      "Runs a JavaScript script: calls the function run(input) it defines with `input` " +
      "and returns what it returns (see docs/scripts.md).",
    inputSchema: JSON.stringify(INPUT_SCHEMA),
    outputSchema: "{}",
  };
}

export function run(text) {
  let request;
  try {
    request = JSON.parse(text);
  } catch (e) {
    throw fail("invalid-input", `the input is not JSON: ${e.message}`);
  }
  if (request === null || typeof request !== "object" || typeof request.source !== "string") {
    throw fail("invalid-input", 'the input must be {"source": "<script>", "input": ...}');
  }
  const source = request.source;
  const filename = typeof request.filename === "string" && request.filename !== "" ? request.filename : DEFAULT_FILENAME;
  const input = request.input === undefined ? null : request.input;

  globalThis.weft = makeWeft();
  globalThis.console = makeConsole();
  globalThis.crypto = makeCrypto();
  Math.random = makeMathRandom();

  // A script written as a module (`export function run`, as .mjs files are)
  // runs as a plain script: each `export ` / `export default ` before a
  // declaration at the start of a line, and each `export { ... };` line, is
  // blanked out with as many spaces, so that lines and columns in messages
  // stay the script's own.
  const script = source
    .replace(EXPORT_PREFIX, (m, indent, word) => indent + " ".repeat(m.length - indent.length - word.length) + word)
    .replace(EXPORT_LIST, (m) => " ".repeat(m.length));

  // An indirect eval runs the script in the global scope; its completion
  // value, the last line appended here, is the run function it defined
  // (whether by `function run`, `const run` or `var run`, strict or not).
  let fn;
  try {
    fn = (0, eval)(`${script}\n;typeof run === "function" ? run : undefined`);
  } catch (e) {
    throw scriptFailure(e, "loading", source, filename);
  }
  if (typeof fn !== "function") throw fail("invalid-input", NO_RUN);

  let value;
  try {
    value = fn(input);
  } catch (e) {
    throw scriptFailure(e, "running", source, filename);
  }
  let promise = false;
  try {
    promise = value !== null && typeof value === "object" && typeof value.then === "function";
  } catch {
    // A Proxy whose `get` trap throws: toJSONText refuses it below.
  }
  if (promise) {
    return `not JSON: ${show(value)} (run(input) returned a Promise: an async run is not supported, return the value itself)`;
  }
  const json = toJSONText(value);
  // Deliberately not JSON: the host reports a contract violation.
  return wellFormed(json === null ? `not JSON: ${show(value)}` : json);
}

// Global state starts afresh on every run: the counter is always 1.
// input: null
// expect: ok
// output: {"calls": 1, "total": 1}
let calls = 0;
globalThis.total = (globalThis.total || 0) + 1;

function run(input) {
  calls += 1;
  return { calls, total: globalThis.total };
}

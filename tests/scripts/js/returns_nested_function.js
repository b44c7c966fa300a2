// JSON.stringify would silently drop `f`; the runner refuses it instead.
// input: {}
// expect: contract_violation
// message: not JSON: {a: 1, f: [Function: f]}
function run(input) {
  return { a: 1, f() {} };
}

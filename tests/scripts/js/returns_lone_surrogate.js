// A string holding a lone surrogate: JSON text is UTF-8, which cannot carry
// it, so a contract violation; the runner must not trap.
// input: {}
// expect: contract_violation
function run(input) {
  return { text: "a\uDC80b" };
}

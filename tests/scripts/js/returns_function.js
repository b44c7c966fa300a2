// A function is not JSON: the runner returns the raw text "not JSON: ...".
// input: {}
// expect: contract_violation
// message: not JSON: [Function: helper]
function run(input) {
  return function helper() {};
}

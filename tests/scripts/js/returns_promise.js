// An async run is not supported: the Promise is not a value.
// input: {}
// expect: contract_violation
// message: not JSON: Promise {}
async function run(input) {
  return 1;
}

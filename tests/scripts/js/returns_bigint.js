// input: {}
// expect: contract_violation
// message: not JSON: {big: 12345678901234567890n}
function run(input) {
  return { big: 12345678901234567890n };
}

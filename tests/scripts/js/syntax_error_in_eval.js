// The script's own call to eval fails to parse: an exception in the script
// (permanent), not a syntax error of the script (invalid_input).
// input: {}
// expect: permanent
// message: SyntaxError: unexpected token in expression
const broken = eval("1 +");

function run(input) {
  return broken;
}

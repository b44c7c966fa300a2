// expect: invalid_input
// message: SyntaxError in syntax_error.js, line 6, column 20
// input: {}

function run(input) {
  return { n: (1 + };
}

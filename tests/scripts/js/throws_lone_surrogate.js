// An error whose message holds a lone surrogate: an ordinary failure, the
// surrogate escaped.
// input: {}
// expect: permanent
// message: bad \ud800 value
function run(input) {
  throw new Error("bad \uD800 value");
}

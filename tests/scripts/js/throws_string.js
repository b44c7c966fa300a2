// Throwing something that is not an Error.
// input: {}
// expect: permanent
// message: uncaught exception: "out of cheese"
function run(input) {
  throw "out of cheese";
}

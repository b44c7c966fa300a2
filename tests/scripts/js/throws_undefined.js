// Throwing undefined, which is not an Error: permanent, like a thrown string.
// input: {}
// expect: permanent
// message: uncaught exception: undefined
function run(input) {
  throw undefined;
}

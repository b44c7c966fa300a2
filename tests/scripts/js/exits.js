// A script cannot exit: there is no `process` (nor QuickJS's `std` or `os`),
// so trying is an uncaught ReferenceError.
// input: {}
// expect: permanent
// message: ReferenceError: process is not defined
// message: at run (exits.js:8:3)
function run(input) {
  process.exit(3);
}

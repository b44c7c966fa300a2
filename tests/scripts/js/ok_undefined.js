// A run that returns nothing (undefined) returns null.
// input: {}
// expect: ok
// output: null
function run(input) {}

// run may be any function binding: const, let, var, or a class's static method.
// input: [3, 1, 2]
// expect: ok
// output: [1, 2, 3]
"use strict";
const run = (input) => [...input].sort((a, b) => a - b);

// input: {"n": 21}
// expect: ok
// output: {"n": 42}
function run(input) {
  return { n: input.n * 2 };
}

// A script written as an ES module (as in a .mjs file): `export` is accepted.
// input: {"a": 2, "b": 3}
// expect: ok
// output: {"sum": 5}
export const add = (a, b) => a + b;

export function run(input) {
  return { sum: add(input.a, input.b) };
}

export { add as plus };

// input: {"age": -1}
// expect: invalid_input
// message: age must be >= 0, got -1
function run(input) {
  if (input.age < 0) throw new weft.InvalidInput(`age must be >= 0, got ${input.age}`);
  return input;
}

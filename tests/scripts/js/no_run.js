// expect: invalid_input
// message: the script defines no run(input) function
// input: {}
function main(input) {
  return input;
}

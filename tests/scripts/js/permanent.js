// input: {}
// expect: permanent
// message: the account is closed
function run(input) {
  throw new weft.PermanentError("the account is closed");
}

// input: {}
// expect: transient
// message: the service is down, try later
function run(input) {
  throw new weft.TransientError("the service is down, try later");
}

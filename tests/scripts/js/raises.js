// An uncaught exception: permanent, with the stack.
// input: {"user": null}
// expect: permanent
// message: at greeting (raises.js:6:20)
function greeting(user) {
  return `hello, ${user.name}`;
}

function run(input) {
  return { greeting: greeting(input.user) };
}

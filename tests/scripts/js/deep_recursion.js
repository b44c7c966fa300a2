// input: {}
// expect: stack_overflow
function down(n) {
  return down(n + 1) + 1;
}

function run(input) {
  return down(0);
}

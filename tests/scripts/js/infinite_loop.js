// input: {}
// flags: --timeout 1s
// expect: timeout
function run(input) {
  for (;;) {}
}

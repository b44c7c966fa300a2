// input: {}
// flags: --max-output 1MiB
// expect: output_limit
function run(input) {
  return { text: "x".repeat(4 * 1024 * 1024) };
}

// input: {}
// expect: memory_limit
function run(input) {
  const hoard = [];
  for (;;) hoard.push(new Uint8Array(8 * 1024 * 1024));
}

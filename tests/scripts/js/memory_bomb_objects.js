// Many small objects rather than one big buffer.
// input: {}
// expect: memory_limit
function run(input) {
  const hoard = [];
  for (let i = 0; ; i++) hoard.push({ i, s: "item " + i, list: [i, i + 1, i + 2] });
}

// Throwing null: QuickJS also throws null when it runs out of memory, so the
// runner cannot tell the two apart and traps; with its memory cap untouched,
// the host reports a trap whose message says so.
// input: {}
// expect: trap
// message: the script threw null, or QuickJS ran out of memory
function run(input) {
  throw null;
}

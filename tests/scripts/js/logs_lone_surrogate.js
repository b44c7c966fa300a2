// A log line holding a lone surrogate is kept, the surrogate escaped.
// input: {}
// expect: ok
// output: {"logged": true}
// logs: [["info", "x\\udfff"]]
function run(input) {
  console.log("x\uDFFF");
  return { logged: true };
}

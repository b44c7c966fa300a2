// There is no process object, so no environment to read.
// input: {}
// expect: ok
// output: {"process": "undefined", "env": null}
function run(input) {
  return {
    process: typeof process,
    env: typeof process === "undefined" ? null : process.env,
  };
}

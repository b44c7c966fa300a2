// Logging through the host: weft.log / weft.info and console.* (no stdout here).
// input: {"name": "weft"}
// expect: ok
// output: {"greeting": "hello, weft"}
// stdout: ""
// logs: [["info", "greeting weft"], ["warn", "this is a warning"], ["info", "console.log goes to the host log at info: {name: \"weft\"}"], ["error", "console.error at error"]]
function run(input) {
  weft.info(`greeting ${input.name}`);
  weft.log("warn", "this is a warning");
  console.log("console.log goes to the host log at info:", { name: input.name });
  console.error("console.error at error");
  return { greeting: `hello, ${input.name}` };
}

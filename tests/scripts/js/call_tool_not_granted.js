// Calling an MCP tool with no server granted: the host refuses (permanent),
// weft.callTool throws weft.PermanentError, which the script catches here.
// input: {}
// expect: ok
// output: {"refused": "PermanentError", "message": "no MCP server granted to this step"}
function run(input) {
  try {
    weft.callTool("files", "read", { path: "/x" });
  } catch (e) {
    if (e instanceof weft.WeftError) return { refused: e.name, message: e.message };
    throw e;
  }
  return { refused: null };
}

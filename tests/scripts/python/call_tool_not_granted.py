# Calling an MCP tool with no server granted: the host refuses (permanent),
# weft.call_tool raises weft.PermanentError, which the script catches here.
# input: {}
# expect: ok
# output: {"refused": "PermanentError", "message": "no MCP server granted to this step"}
def run(input):
    try:
        weft.call_tool("files", "read", {"path": "/x"})
    except weft.WeftError as e:
        return {"refused": type(e).__name__, "message": str(e)}
    return {"refused": None}

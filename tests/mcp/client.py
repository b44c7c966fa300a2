"""A small MCP client for weft's tests, built on the official Python MCP SDK.

It reads a plan (JSON) on stdin, connects to a server, runs the plan's
operations in order and prints one JSON object with what came back, for the
Rust tests (tests/all/mcp_server.rs) to assert on.

Plan:
    {"command": PROGRAM, "args": [...], "env": {...}}   # stdio: start the server
    or {"url": "http://127.0.0.1:PORT/mcp"}              # streamable HTTP
    "mode": "auto" | "legacy" | "2026-07-28"          # optional, the SDK's default is "auto"
    "ops": [{"op": "list_tools"},
            {"op": "call", "name": TOOL, "arguments": {...}, "timeout": SECONDS},
            {"op": "parallel", "count": N, "name": TOOL, "arguments": {...}, "timeout": SECONDS}]
    ("parallel" makes N calls at once on the one session; each result is a call.)

Output:
    {"protocol_version": ..., "server": {"name", "version"},
     "tools": [{"name", "description", "input_schema"}],          # from list_tools
     "calls": [{"is_error", "structured", "text": [...], "seconds"}  # a result
               | {"mcp_error": {"code", "message"}, "seconds"}]}    # a JSON-RPC error
"""

import json
import sys
import time

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError


async def one_call(client, op):
    started = time.monotonic()
    try:
        with anyio.fail_after(op.get("timeout", 120)):
            r = await client.call_tool(op["name"], op.get("arguments"))
        return {
            "is_error": bool(r.is_error),
            "structured": r.structured_content,
            "text": [c.text for c in r.content if getattr(c, "type", None) == "text"],
            "seconds": time.monotonic() - started,
        }
    except MCPError as e:
        return {"mcp_error": {"code": e.code, "message": e.message}, "seconds": time.monotonic() - started}
    except TimeoutError:
        return {"client_timeout": True, "seconds": time.monotonic() - started}


async def main() -> None:
    plan = json.load(sys.stdin)
    if "url" in plan:
        server = plan["url"]
    else:
        server = StdioServerParameters(command=plan["command"], args=plan.get("args", []), env=plan.get("env"))
    out: dict = {"calls": []}
    async with Client(server, mode=plan.get("mode", "auto")) as client:
        out["protocol_version"] = client.protocol_version
        info = client.server_info
        out["server"] = {"name": info.name, "version": info.version} if info else None
        for op in plan["ops"]:
            if op["op"] == "list_tools":
                listed = await client.list_tools()
                out["tools"] = [
                    {"name": t.name, "description": t.description, "input_schema": t.input_schema}
                    for t in listed.tools
                ]
            elif op["op"] == "call":
                out["calls"].append(await one_call(client, op))
            elif op["op"] == "parallel":
                results = [None] * op["count"]

                async def run(i):
                    results[i] = await one_call(client, op)

                async with anyio.create_task_group() as tg:
                    for i in range(op["count"]):
                        tg.start_soon(run, i)
                out["calls"].extend(results)
            else:
                raise ValueError(f"unknown op {op['op']!r}")
    print(json.dumps(out))


if __name__ == "__main__":
    anyio.run(main)

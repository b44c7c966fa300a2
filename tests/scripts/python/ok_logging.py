# Logging through the host, print() to the captured stdout, and `import weft`.
# input: {"name": "weft"}
# expect: ok
# output: {"greeting": "hello, weft"}
# stdout: "to stdout\n"
# logs: [["info", "greeting weft"], ["warn", "this is a warning"], ["debug", "the imported module is the same helper"]]
import weft as weft_module


def run(input):
    weft.info(f"greeting {input['name']}")
    weft.log("warn", "this is a warning")
    weft_module.debug("the imported module is the same helper")
    print("to stdout")
    return {"greeting": f"hello, {input['name']}"}

# A log line holding a lone surrogate is kept, the surrogate escaped.
# input: {}
# expect: ok
# output: {"logged": true}
# logs: [["info", "x\\udfff"]]
def run(input):
    weft.info("x\udfff")
    return {"logged": True}

# Looks for secrets in the environment: there is none (os.environ is empty).
# input: {}
# expect: ok
# output: {"home": null, "path": null, "count": 0}
import os


def run(input):
    return {"home": os.environ.get("HOME"), "path": os.getenv("PATH"), "count": len(os.environ)}

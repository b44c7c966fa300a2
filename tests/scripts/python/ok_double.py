# input: {"n": 21}
# expect: ok
# output: {"n": 42}
def run(input):
    return {"n": input["n"] * 2}

# NaN is not JSON (json.dumps would write NaN): refused like a set.
# input: {}
# expect: contract_violation
# message: not JSON: {'x': nan}
def run(input):
    return {"x": float("nan")}

# A value json cannot encode: the runner returns the raw text "not JSON: {1, 2, 3}".
# input: {}
# expect: contract_violation
# message: not JSON: {1, 2, 3}
def run(input):
    return {1, 2, 3}

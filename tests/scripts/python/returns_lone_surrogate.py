# A str holding a lone surrogate: JSON text is UTF-8, which cannot carry it.
# The runner must not abort: the host reports a contract violation.
# input: {}
# expect: contract_violation
# message: lone surrogate
def run(input):
    return {"text": "a\udc80b"}

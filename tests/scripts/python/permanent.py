# input: {}
# expect: permanent
# message: the account is closed
def run(input):
    raise weft.PermanentError("the account is closed")

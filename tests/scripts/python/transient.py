# input: {}
# expect: transient
# message: the service is down, try later
def run(input):
    raise weft.TransientError("the service is down, try later")

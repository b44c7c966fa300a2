# An uncaught exception: permanent, with the traceback.
# input: {"items": []}
# expect: permanent
# message: ZeroDivisionError: division by zero
def average(items):
    return sum(items) / len(items)


def run(input):
    return {"average": average(input["items"])}

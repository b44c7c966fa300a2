# An uncaught exception: permanent, with the traceback.
# input: {"items": []}
# expect: permanent
# message: ZeroDivisionError: division by zero
# message: Traceback (most recent call last):
# message: File "raises.py", line 14, in run
# message: File "raises.py", line 10, in average
# message: return sum(items) / len(items)
def average(items):
    return sum(items) / len(items)


def run(input):
    return {"average": average(input["items"])}

# Python's recursion limit turns this into a RecursionError: an exception.
# input: {}
# expect: permanent
# message: RecursionError: maximum recursion depth exceeded
def down(n):
    return down(n + 1) + 1


def run(input):
    return down(0)

# Lifting Python's recursion limit does not let a script take the host down:
# the recursion exhausts the WebAssembly stack, which the host limits.
# input: {}
# expect: stack_overflow
# message: the guest exhausted its WebAssembly stack
import sys


def down(n):
    return down(n + 1) + 1


def run(input):
    sys.setrecursionlimit(10**6)
    return down(0)

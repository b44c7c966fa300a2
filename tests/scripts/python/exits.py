# input: {}
# expect: permanent
# message: the script exited (sys.exit(3)) instead of returning a value
import sys


def run(input):
    sys.exit(3)

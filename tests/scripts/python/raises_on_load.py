# An exception while the script loads, before run(input) is called.
# input: {}
# expect: permanent
# message: the script failed while loading, before run(input)
undefined_name + 1


def run(input):
    return input

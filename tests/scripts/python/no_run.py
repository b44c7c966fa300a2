# expect: invalid_input
# message: the script defines no run(input) function
# input: {}
def main(input):
    return input

# A run that returns nothing returns null.
# input: {}
# expect: ok
# output: null
def run(input):
    pass

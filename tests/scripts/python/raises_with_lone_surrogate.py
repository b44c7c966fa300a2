# An exception whose message holds a lone surrogate: the message crosses to
# the host with the surrogate escaped, and the run is an ordinary failure.
# input: {}
# expect: permanent
# message: ValueError: bad \ud800 value
def run(input):
    raise ValueError("bad \ud800 value")

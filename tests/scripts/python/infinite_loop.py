# input: {}
# flags: --timeout 1s
# expect: timeout
def run(input):
    while True:
        pass

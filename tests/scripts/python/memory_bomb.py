# input: {}
# expect: memory_limit
def run(input):
    hoard = []
    while True:
        hoard.append(bytearray(8 * 1024 * 1024))

# Many small objects rather than big buffers.
# input: {}
# expect: memory_limit
def run(input):
    hoard = []
    i = 0
    while True:
        hoard.append({"i": i, "s": f"item {i}", "list": [i, i + 1, i + 2]})
        i += 1

# Module-level state starts afresh on every run: the counter is always 1.
# input: null
# expect: ok
# output: {"calls": 1}
calls = 0


def run(input):
    global calls
    calls += 1
    return {"calls": calls}

# A 200 MB string returned, with memory to build it: more than one host call
# may carry, which wasmtime refuses to copy. That is the output limit, not a
# trap.
# input: {}
# flags: --max-memory 1GiB --max-output 1MiB
# expect: output_limit
# message: over the limit of 1MiB
def run(input):
    return "x" * (200 * 1024 * 1024)

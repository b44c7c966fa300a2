# input: {}
# flags: --max-output 1MiB
# expect: output_limit
def run(input):
    return {"text": "x" * (4 * 1024 * 1024)}

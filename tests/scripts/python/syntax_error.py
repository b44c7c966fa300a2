# expect: invalid_input
# message: SyntaxError in syntax_error.py, line 6, column 22
# input: {}

def run(input):
    return {"n": (1 +}

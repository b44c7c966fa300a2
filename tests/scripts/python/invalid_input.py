# input: {"age": -1}
# expect: invalid_input
# message: age must be >= 0, got -1
def run(input):
    if input["age"] < 0:
        raise weft.InvalidInput(f"age must be >= 0, got {input['age']}")
    return input

# Opens a FIFO inside a granted directory. Opening one blocks until a writer
# comes, on a thread the deadline cannot reach: the sandbox refuses to open
# special files at all, so the run fails at once instead of hanging.
# input: {"dir": "GRANTED_DIR"}
# flags: --allow-read GRANTED_DIR --timeout 2s
# expect: permanent
# message: PermissionError
def run(input):
    with open(input["dir"] + "/fifo") as f:
        return f.read()
